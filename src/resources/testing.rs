//! What the providers' tests share: SDK clients that answer from canned rules
//! (`aws-smithy-mocks`), built without the SDK crates' `test-util` feature.

/// A client of SDK crate `$krate` answering from `$rules` (any order), with dummy
/// credentials in ap-northeast-2: `mocked!(aws_sdk_iam, &[&get_role])`.
macro_rules! mocked {
    ($krate:ident, $rules:expr) => {{
        let mut interceptor =
            aws_smithy_mocks::MockResponseInterceptor::new().rule_mode(aws_smithy_mocks::RuleMode::MatchAny);
        for rule in $rules {
            interceptor = interceptor.with_rule(rule);
        }
        let conf = $krate::config::Config::builder()
            .behavior_version($krate::config::BehaviorVersion::latest())
            .region($krate::config::Region::new("ap-northeast-2"))
            .credentials_provider($krate::config::Credentials::new("a", "b", None, None, "test"))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(interceptor)
            .build();
        $krate::Client::from_conf(conf)
    }};
}

pub(crate) use mocked;
