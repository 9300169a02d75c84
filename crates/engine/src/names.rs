//! Container ids (64 random hex digits) and Docker-style random names
//! (`adjective_surname`). The word lists are skiff's own.

const ADJECTIVES: &[&str] = &[
    "agile", "amazing", "bold", "brave", "bright", "calm", "clever", "cool", "crisp", "curious", "daring", "eager",
    "earnest", "fancy", "fervent", "focused", "friendly", "gallant", "gentle", "gifted", "happy", "hardy", "honest",
    "humble", "jolly", "keen", "kind", "lively", "loyal", "lucid", "merry", "mighty", "modest", "nimble", "noble",
    "patient", "peaceful", "placid", "plucky", "polite", "proud", "quick", "quiet", "rapid", "ready", "serene",
    "sharp", "shiny", "silent", "sleepy", "smart", "snappy", "steady", "stoic", "sunny", "swift", "tender", "tidy",
    "trusty", "upbeat", "vibrant", "vivid", "warm", "wise", "witty", "zealous",
];

const SURNAMES: &[&str] = &[
    "agnesi",
    "archimedes",
    "babbage",
    "bohr",
    "boole",
    "cantor",
    "carson",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euclid",
    "euler",
    "faraday",
    "fermat",
    "feynman",
    "franklin",
    "galileo",
    "gauss",
    "goodall",
    "hamilton",
    "hawking",
    "heisenberg",
    "hertz",
    "hopper",
    "hypatia",
    "kepler",
    "knuth",
    "lamarr",
    "laplace",
    "leibniz",
    "lovelace",
    "maxwell",
    "meitner",
    "mendel",
    "newton",
    "noether",
    "ohm",
    "pascal",
    "pasteur",
    "planck",
    "ramanujan",
    "riemann",
    "ritchie",
    "shannon",
    "tesla",
    "thompson",
    "turing",
    "volta",
    "wozniak",
];

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the kernel's random source");
    u64::from_le_bytes(b)
}

/// A new container id: 32 random bytes as 64 lower-case hex digits.
pub fn new_id() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the kernel's random source");
    hex::encode(b)
}

/// A random `adjective_surname`; `retry > 0` appends a digit as Docker does.
pub fn random_name(retry: u32) -> String {
    let r = random_u64();
    let a = ADJECTIVES[(r % ADJECTIVES.len() as u64) as usize];
    let s = SURNAMES[((r >> 32) % SURNAMES.len() as u64) as usize];
    if retry > 0 {
        format!("{a}_{s}{}", (r >> 16) % 10)
    } else {
        format!("{a}_{s}")
    }
}

/// Whether `name` is a valid container name (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names() {
        let id = new_id();
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(id, new_id());
        let n = random_name(0);
        assert!(valid_name(&n), "{n}");
        assert_eq!(n.matches('_').count(), 1);
        assert!(
            valid_name("db") && valid_name("my-web.1") && !valid_name("/db") && !valid_name("x") && !valid_name("-a")
        );
    }
}
