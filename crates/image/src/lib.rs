//! skiff image store
