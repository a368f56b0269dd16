//! WebDAV failures (RFC 4918 status codes) onto the error taxonomy.

use reqwest::header::LOCATION;

use ferry_core::Error;

use crate::http::Failure;

/// The mapping for answers the calling code does not handle itself.
pub fn map(what: &str, failure: &Failure) -> Error {
    let status = failure.status;
    match status.as_u16() {
        // 507 Insufficient Storage (RFC 4918 §11.5); some servers answer 413 for a quota.
        507 | 413 => Error::DestinationFull(format!(
            "{what}: the WebDAV server has no space left ({status})"
        )),
        403 => Error::Permanent(format!(
            "{what}: the WebDAV server refused ({status}); check the user's rights there"
        )),
        // Something vanished under a running job (a folder, a staged file): the caller knows
        // what that means; by default another try, which makes it again.
        404 | 409 => Error::Retryable(format!("{what}: not found on the server ({status})")),
        // 423 Locked: another client holds a lock; it is released in time.
        423 => Error::Retryable(format!("{what}: locked on the server ({status})")),
        300..=399 => {
            let to = failure
                .headers
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("elsewhere");
            Error::Permanent(format!(
                "{what}: the server redirects to {to}; use that address as the server URL"
            ))
        }
        _ => failure.by_status(what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::ErrorKind;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    fn kind(status: u16) -> ErrorKind {
        let failure = Failure {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: String::new(),
        };
        map("uploading a.jpg", &failure).kind()
    }

    #[test]
    fn statuses_map_onto_kinds() {
        assert_eq!(kind(507), ErrorKind::DestinationFull);
        assert_eq!(kind(413), ErrorKind::DestinationFull);
        assert_eq!(kind(403), ErrorKind::Permanent);
        assert_eq!(kind(401), ErrorKind::AuthExpired);
        assert_eq!(kind(404), ErrorKind::Retryable);
        assert_eq!(kind(423), ErrorKind::Retryable);
        assert_eq!(kind(429), ErrorKind::RateLimited);
        assert_eq!(kind(502), ErrorKind::Retryable);
        assert_eq!(kind(301), ErrorKind::Permanent);
        assert_eq!(kind(400), ErrorKind::Permanent);
    }
}
