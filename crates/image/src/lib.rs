//! skiff image store

pub mod tarstream;
pub mod unpack;
