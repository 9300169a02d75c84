//! What failed in a container's child process between fork and execve, as it travels back to
//! the caller over the sync socket (init and rootfs report it; spawn and exec decode it).

/// What failed in the child: a stage description, the errno, and the kind (for exit codes).
#[derive(Debug, Clone)]
pub(crate) struct ChildError {
    pub message: String,
    pub errno: i32,
    pub kind: u8,
}

pub(crate) const KIND_OTHER: u8 = 0;
pub(crate) const KIND_NOT_FOUND: u8 = 1;
pub(crate) const KIND_NOT_EXECUTABLE: u8 = 2;
/// A failure the message says all of (a hook's), with no errno.
pub(crate) const KIND_MESSAGE: u8 = 3;

impl ChildError {
    pub fn new(message: String, errno: i32) -> Self {
        Self { message, errno, kind: KIND_OTHER }
    }
    pub fn message(message: String) -> Self {
        Self { message, errno: 0, kind: KIND_MESSAGE }
    }
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![b'E', self.kind];
        v.extend_from_slice(&self.errno.to_le_bytes());
        v.extend_from_slice(self.message.as_bytes());
        v
    }
    pub fn decode(msg: &[u8]) -> Option<Self> {
        if msg.len() < 6 || msg[0] != b'E' {
            return None;
        }
        let errno = i32::from_le_bytes([msg[2], msg[3], msg[4], msg[5]]);
        Some(Self { kind: msg[1], errno, message: String::from_utf8_lossy(&msg[6..]).into_owned() })
    }
}
