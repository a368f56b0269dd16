//! Koofr's failures onto the error taxonomy.
//!
//! Koofr signals errors by status code (its JSON body `{"error":{"code","message"}}` is not
//! documented as stable, so it only goes into messages): 404 missing, 409 (and 400 on the
//! older v2 routes) a name already taken or a failed condition, 413 quota exceeded, 5xx a
//! passing fault. Rate limiting is not documented; a 429 is honoured like everywhere else.

use ferry_core::Error;

use crate::http::Failure;

/// The mapping for answers the calling code does not handle itself.
pub fn map(what: &str, failure: &Failure) -> Error {
    let status = failure.status.as_u16();
    match status {
        413 => Error::DestinationFull(format!(
            "{what}: the Koofr account has no space left ({})",
            failure.status
        )),
        403 => Error::Permanent(format!(
            "{what}: Koofr refused access ({}); check that this place can be written to",
            failure.status
        )),
        // A missing file or folder means something vanished under a running job: the
        // calling code decides what that means; by default it is worth another try.
        404 => Error::Retryable(format!("{what}: not found on Koofr ({})", failure.status)),
        409 => Error::Permanent(format!(
            "{what}: conflict on Koofr ({}) {}",
            failure.status,
            failure.snippet()
        )),
        _ => failure.by_status(what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::ErrorKind;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    fn failure(status: u16) -> Failure {
        Failure {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: r#"{"error":{"code":"X","message":"y"}}"#.into(),
        }
    }

    #[test]
    fn statuses_map_onto_kinds() {
        let kind = |s| map("putting a.jpg", &failure(s)).kind();
        assert_eq!(kind(413), ErrorKind::DestinationFull);
        assert_eq!(kind(404), ErrorKind::Retryable);
        assert_eq!(kind(409), ErrorKind::Permanent);
        assert_eq!(kind(403), ErrorKind::Permanent);
        assert_eq!(kind(400), ErrorKind::Permanent);
        assert_eq!(kind(500), ErrorKind::Retryable);
        assert_eq!(kind(503), ErrorKind::Retryable);
        assert_eq!(kind(429), ErrorKind::RateLimited);
        assert_eq!(kind(401), ErrorKind::AuthExpired);
    }
}
