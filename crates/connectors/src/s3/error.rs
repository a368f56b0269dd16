//! OpenDAL's errors for S3 onto ferry's taxonomy. OpenDAL has already read S3's error code:
//! `SlowDown` and 429 are `RateLimited`, 5xx and timeouts are temporary, `NoSuchBucket` is a
//! configuration error.

use opendal::ErrorKind as Kind;

use ferry_core::Error;

/// The longest part of OpenDAL's description kept in a message (it carries S3's XML error).
const DETAIL_CHARS: usize = 300;

/// Maps an OpenDAL error from an operation on `bucket` (`what` says which, for the message).
pub fn map_error(bucket: &str, what: &str, err: &opendal::Error) -> Error {
    let detail = detail(err);
    match err.kind() {
        Kind::PermissionDenied => Error::AuthExpired(format!(
            "{what}: S3 refused the credentials for bucket {bucket} (wrong or revoked access key, or no permission): connect it again with the right access key ({detail})"
        )),
        Kind::ConfigInvalid if detail.contains("NoSuchBucket") => Error::permanent(format!(
            "{what}: the S3 bucket {bucket} does not exist; create it (or fix the bucket name) and connect again"
        )),
        Kind::RateLimited => Error::RateLimited {
            retry_after: None,
            message: format!("{what}: S3 asked to slow down ({detail})"),
        },
        Kind::NotFound => Error::NotFound(format!("{what}: not found")),
        _ if err.is_temporary() => Error::retryable(format!("{what}: {detail}")),
        _ => Error::permanent(format!("{what}: {detail}")),
    }
}

/// OpenDAL's message (S3's error code and message), without the context it adds (response
/// headers, the request's URI), bounded.
fn detail(err: &opendal::Error) -> String {
    let text = err.message();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(DETAIL_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::ErrorKind;

    #[test]
    fn kinds_map_onto_the_taxonomy() {
        let denied = opendal::Error::new(Kind::PermissionDenied, "SignatureDoesNotMatch");
        assert_eq!(map_error("b", "x", &denied).kind(), ErrorKind::AuthExpired);
        let slow = opendal::Error::new(Kind::RateLimited, "SlowDown").set_temporary();
        assert_eq!(map_error("b", "x", &slow).kind(), ErrorKind::RateLimited);
        let busy = opendal::Error::new(Kind::Unexpected, "503").set_temporary();
        assert_eq!(map_error("b", "x", &busy).kind(), ErrorKind::Retryable);
        let bucket = opendal::Error::new(Kind::ConfigInvalid, "S3Error { code: \"NoSuchBucket\" }");
        let mapped = map_error("photos", "x", &bucket);
        assert_eq!(mapped.kind(), ErrorKind::Permanent);
        assert!(
            mapped.to_string().contains("bucket photos does not exist"),
            "{mapped}"
        );
        let refused = opendal::Error::new(Kind::Unexpected, "400 InvalidArgument");
        assert_eq!(map_error("b", "x", &refused).kind(), ErrorKind::Permanent);
    }

    #[test]
    fn details_are_bounded() {
        let long = opendal::Error::new(Kind::Unexpected, "x".repeat(5000)).set_temporary();
        assert!(map_error("b", "x", &long).to_string().chars().count() < DETAIL_CHARS + 50);
    }
}
