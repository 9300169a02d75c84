//! `docker rename`.

use crate::error::Result;
use crate::record::{self, Container, RecordError};
use crate::{names, Engine};

impl Engine {
    /// `docker rename`: a new valid name, unique in the store.
    pub fn rename(&self, c: &Container, new_name: &str) -> Result<()> {
        let n = new_name.strip_prefix('/').unwrap_or(new_name);
        if !names::valid_name(n) {
            return Err(RecordError::InvalidName(new_name.to_string()).into());
        }
        let mut c = c.clone();
        c.name = n.to_string();
        record::save(self.store(), &c)?;
        Ok(())
    }
}
