//! What kind of failure an error is, as Docker's `errdefs` classifies a daemon's errors, so that
//! every front end maps one library error the same way: the CLI to Docker's "Error response from
//! daemon: " prefix and exit codes, an HTTP front end to the Engine API's status codes. Each
//! library error type (the store's, the engine's, the registry client's) has a `kind()`.
//!
//! The kinds and their statuses follow moby's `errdefs` package and `httpstatus` mapping:
//! not found 404, conflict 409, invalid parameter 400, not modified 304, system 500.

/// The class of a failure, independent of its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No such image, container, volume, network or blob (404).
    NotFound,
    /// The object is in use or the name is taken (409).
    Conflict,
    /// The request itself is wrong: a malformed reference, option or value (400).
    InvalidArgument,
    /// The container is not running, so the operation cannot apply (409, as Docker's `kill`).
    NotRunning,
    /// Nothing to do: the container is already in the state asked for (304, as Docker's `start`).
    AlreadyRunning,
    /// Anything else: the host, the disk, a bug (500).
    System,
}

impl ErrorKind {
    /// The Engine API's HTTP status for this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict | ErrorKind::NotRunning => 409,
            ErrorKind::InvalidArgument => 400,
            ErrorKind::AlreadyRunning => 304,
            ErrorKind::System => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_the_engine_apis_statuses() {
        let all = [
            (ErrorKind::NotFound, 404),
            (ErrorKind::Conflict, 409),
            (ErrorKind::InvalidArgument, 400),
            (ErrorKind::NotRunning, 409),
            (ErrorKind::AlreadyRunning, 304),
            (ErrorKind::System, 500),
        ];
        for (k, status) in all {
            assert_eq!(k.http_status(), status, "{k:?}");
        }
    }
}
