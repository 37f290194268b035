//! Bounds and formats of what a client may send. A leaf module: it imports nothing of this
//! crate.

/// Bounds on what a client may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body accepted, in bytes (413 above it). Prefetched data travels in
    /// the body, so this must fit a patient's prefetched record; the default, 8 MiB, fits
    /// years of primary-care observations.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 8 * 1024 * 1024,
        }
    }
}

/// Whether `id` is a FHIR logical id (`[A-Za-z0-9\-\.]{1,64}`). Context ids are substituted
/// into FHIR queries and logged, so anything else is refused.
pub fn is_fhir_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fhir_ids() {
        for ok in ["123", "a.b-C", &"x".repeat(64)] {
            assert!(is_fhir_id(ok), "{ok}");
        }
        for bad in ["", "a b", "a/b", "{{x}}", "é", &"x".repeat(65), "a&b=c"] {
            assert!(!is_fhir_id(bad), "{bad}");
        }
    }
}
