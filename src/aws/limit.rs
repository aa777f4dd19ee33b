//! One bound on AWS calls in flight, for every service and for reads and writes alike:
//! the HTTP client every SDK client shares waits for a permit before it sends a
//! request, and gives it back when the answer's head has come. Retries and waits sleep
//! without one, so a step waiting for a database to be created holds nothing.
//!
//! The client itself is the SDK's default (rustls with aws-lc, proxies from the
//! environment as the SDK's current behaviour version reads them), wrapped.

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The default of `--max-in-flight`: wide enough that a stack the size of the seed's is
/// read in its waves at full width, narrow enough that a stack of a hundred buckets does
/// not send six hundred calls at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;

/// An HTTP client that lets at most `max` requests be in flight at once.
pub fn client(max: usize) -> SharedHttpClient {
    let inner = Builder::new().build_with_connector_fn(|settings, components| {
        let mut conn = ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        conn.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            conn.set_sleep_impl(components.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    });
    SharedHttpClient::new(Limited { inner, permits: Arc::new(Semaphore::new(max.max(1))) })
}

#[derive(Debug)]
struct Limited {
    inner: SharedHttpClient,
    permits: Arc<Semaphore>,
}

impl HttpClient for Limited {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        let inner = self.inner.http_connector(settings, components);
        SharedHttpConnector::new(LimitedConnector { inner, permits: self.permits.clone() })
    }
}

#[derive(Debug)]
struct LimitedConnector {
    inner: SharedHttpConnector,
    permits: Arc<Semaphore>,
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, permits) = (self.inner.clone(), self.permits.clone());
        HttpConnectorFuture::new(async move {
            // The semaphore is never closed.
            let _permit = permits.acquire_owned().await.expect("the call limit's semaphore stays open");
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::http::HttpConnector;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_types::body::SdkBody;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A connector that answers after a while and counts how many calls are inside it.
    #[derive(Debug, Default)]
    struct Slow {
        now: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
    }

    impl HttpConnector for Slow {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            let (now, most) = (self.now.clone(), self.most.clone());
            HttpConnectorFuture::new(async move {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                Ok(HttpResponse::new(200.try_into().unwrap(), SdkBody::empty()))
            })
        }
    }

    #[tokio::test]
    async fn no_more_calls_than_the_bound_are_in_flight() {
        let slow = Slow::default();
        let most = slow.most.clone();
        let limited = LimitedConnector { inner: SharedHttpConnector::new(slow), permits: Arc::new(Semaphore::new(3)) };
        let calls = (0..10).map(|_| limited.call(HttpRequest::get("http://127.0.0.1/").unwrap()));
        let answers = futures::future::join_all(calls).await;
        assert!(answers.iter().all(Result::is_ok));
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }
}
