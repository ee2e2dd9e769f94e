//! Errors the API operations answer with (`ErrorBody`), and the request validation shared by
//! the endpoints.

/// An error answered with `ErrorBody`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            code: "bad.request",
            message: message.into(),
        }
    }
}

/// Whether a rejected enum value's message lists the allowed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListAllowed {
    /// "{field} value '{v}' is not valid; expected one of a, b, c"
    Yes,
    /// "{field} value '{v}' is not valid"
    No,
}

/// Every value must be one of `allowed`; the first that is not is a 400 naming `field`.
pub(crate) fn check_enum(
    values: &[String],
    allowed: &[&str],
    field: &str,
    list: ListAllowed,
) -> Result<(), ApiError> {
    for v in values {
        if !allowed.contains(&v.as_str()) {
            return Err(ApiError::bad_request(match list {
                ListAllowed::Yes => format!(
                    "{field} value '{v}' is not valid; expected one of {}",
                    allowed.join(", ")
                ),
                ListAllowed::No => format!("{field} value '{v}' is not valid"),
            }));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_enum_messages() {
        let ok = ["a".to_string(), "b".to_string()];
        assert!(check_enum(&ok, &["a", "b"], "f", ListAllowed::Yes).is_ok());
        let bad = ["a".to_string(), "x".to_string(), "y".to_string()];
        let e = check_enum(&bad, &["a", "b"], "metrics", ListAllowed::Yes).unwrap_err();
        assert_eq!((e.status, e.code), (400, "bad.request"));
        assert_eq!(
            e.message,
            "metrics value 'x' is not valid; expected one of a, b"
        );
        let e = check_enum(&bad, &["a", "b"], "groupBy", ListAllowed::No).unwrap_err();
        assert_eq!(e.message, "groupBy value 'x' is not valid");
    }
}
