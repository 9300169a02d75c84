#[allow(dead_code)]
mod output;

fn main() {}
