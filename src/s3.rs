//! S3 access for sources and stores: standard AWS environment variables (credentials, region,
//! `AWS_ENDPOINT_URL` for S3-compatible servers such as MinIO or moto).

use std::collections::HashMap;
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::ObjectStore;
use url::Url;

/// An object store plus the same settings as Delta storage options.
pub type S3Access = (Arc<dyn ObjectStore>, HashMap<String, String>);

/// An object store for the bucket of `url`, plus the same settings as Delta storage options.
pub fn object_store_for(url: &Url) -> Result<S3Access, object_store::Error> {
    let bucket = url.host_str().unwrap_or_default().to_string();
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(&bucket);
    let mut options = HashMap::new();
    let endpoint = std::env::var("AWS_ENDPOINT_URL_S3").or_else(|_| std::env::var("AWS_ENDPOINT_URL")).ok();
    if let Some(ep) = &endpoint {
        builder = builder.with_endpoint(ep);
        options.insert("AWS_ENDPOINT_URL".to_string(), ep.clone());
        if ep.starts_with("http://") {
            // A local S3-compatible server: plain HTTP is what the user asked for.
            builder = builder.with_allow_http(true);
            options.insert("AWS_ALLOW_HTTP".to_string(), "true".to_string());
        }
    }
    if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
        builder = builder.with_region("us-east-1");
    }
    for (k, v) in std::env::vars() {
        if k.starts_with("AWS_") && !options.contains_key(&k) {
            options.insert(k, v);
        }
    }
    Ok((Arc::new(builder.build()?), options))
}
