//! The master password from a secret the file names (`password: {secret_arn: ...}`).
//!
//! RDS needs the value itself when it does not manage the password, so it is read from
//! Secrets Manager at apply time, handed to RDS in the same breath, and never kept,
//! printed or logged: the SDK redacts both the secret and the password field in its own
//! debug output, and the plan only ever says `secret <arn>`.

use crate::apply::StepError;
use crate::aws::call_error;
use crate::resources::Cx;

/// The password held by the secret: its `password` key when the secret is JSON (the
/// shape RDS and the console use), else the whole secret string.
pub async fn password(cx: &Cx, arn: &str) -> Result<String, StepError> {
    let out = cx.aws.secrets.get_secret_value().secret_id(arn).send().await.map_err(|e| {
        call_error("secretsmanager:GetSecretValue", e).hint(format!(
            "the secret `{arn}` named by `database.password` must exist and be readable by these credentials"
        ))
    })?;
    let text = out.secret_string.ok_or_else(|| {
        StepError::new("secretsmanager:GetSecretValue", format!("the secret `{arn}` holds no string"))
    })?;
    Ok(from_secret_string(&text))
}

/// The password inside a secret string.
pub fn from_secret_string(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => v.get("password").and_then(|p| p.as_str()).map_or_else(|| text.to_string(), String::from),
        Err(_) => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_password_is_the_json_key_or_the_whole_string() {
        assert_eq!(super::from_secret_string(r#"{"username": "admin_x", "password": "p@ss"}"#), "p@ss");
        assert_eq!(super::from_secret_string("plain-value"), "plain-value");
        assert_eq!(super::from_secret_string(r#"{"user": "x"}"#), r#"{"user": "x"}"#);
    }
}
