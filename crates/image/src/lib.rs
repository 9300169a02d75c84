//! skiff image store

pub mod tarstream;
