//! Finding containers: by full id, name or unique id prefix, and all of them.

use crate::error::Result;
use crate::record::{self, Container};
use crate::Engine;

impl Engine {
    /// Finds a container by full id, name (with or without a leading `/`) or unique id prefix.
    pub fn find(&self, key: &str) -> Result<Container> {
        Ok(record::find(self.store(), key)?)
    }

    /// Every container, oldest first.
    pub fn list(&self) -> Result<Vec<Container>> {
        Ok(record::list(self.store())?)
    }
}
