//! AWS Signature Version 4 on incoming requests: the access keys the operator configured (an AWS
//! credentials file), and each request's signature recomputed with AWS's own `aws-sigv4` over
//! exactly the headers the client signed, then compared.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4::SigningParams;
use axum::http::request::Parts;

use super::ApiError;

/// How far a request's `X-Amz-Date` may be from now (AWS: 15 minutes).
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The access keys requests may be signed with.
#[derive(Clone, Default)]
pub struct Keys {
    /// Access key id → (secret, session token).
    keys: HashMap<String, (String, Option<String>)>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} access keys", self.keys.len())
    }
}

impl Keys {
    /// The keys of every profile in an AWS credentials file (`[profile]` sections with
    /// `aws_access_key_id`, `aws_secret_access_key`, optionally `aws_session_token`).
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut keys = HashMap::new();
        let mut section: HashMap<String, String> = HashMap::new();
        let mut flush = |s: &mut HashMap<String, String>| {
            if let (Some(id), Some(secret)) = (s.get("aws_access_key_id"), s.get("aws_secret_access_key")) {
                keys.insert(id.clone(), (secret.clone(), s.get("aws_session_token").cloned()));
            }
            s.clear();
        };
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                flush(&mut section);
            } else if let Some((k, v)) = line.split_once('=') {
                if !line.starts_with('#') && !line.starts_with(';') {
                    section.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
            }
        }
        flush(&mut section);
        if keys.is_empty() {
            return Err(format!("{} holds no aws_access_key_id / aws_secret_access_key pair", path.display()));
        }
        Ok(Self { keys })
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks the request's SigV4 signature; `body` is its payload.
    pub fn verify(&self, parts: &Parts, body: &[u8]) -> Result<(), ApiError> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let missing = || {
            ApiError::new(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token: sign requests with an access key the server was given (--aws-credentials)",
            )
            .status(403)
        };
        let auth = header("authorization").ok_or_else(missing)?;
        let signed = Authorization::parse(auth).ok_or_else(|| {
            ApiError::new(
                "IncompleteSignatureException",
                "the Authorization header is not an AWS4-HMAC-SHA256 signature",
            )
            .status(400)
        })?;
        let Some((secret, token)) = self.keys.get(signed.access_key) else {
            return Err(ApiError::new(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
            .status(400));
        };
        let date = header("x-amz-date").and_then(parse_amz_date).ok_or_else(|| {
            ApiError::new("IncompleteSignatureException", "the request has no valid X-Amz-Date header").status(400)
        })?;
        let skew = SystemTime::now().duration_since(date).unwrap_or_else(|e| e.duration());
        if skew > MAX_SKEW {
            return Err(ApiError::new(
                "InvalidSignatureException",
                "Signature expired: the request's X-Amz-Date is more than 15 minutes from the server's time",
            )
            .status(400));
        }
        // The headers the client signed, except those the signer adds itself.
        let added = ["host", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"];
        let headers: Vec<(&str, &str)> = signed
            .signed_headers
            .iter()
            .filter(|h| !added.contains(h))
            .filter_map(|h| header(h).map(|v| (*h, v)))
            .collect();
        let host = header("host").unwrap_or_default();
        let uri = format!("http://{host}{}", parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
        let request = SignableRequest::new(parts.method.as_str(), &uri, headers.into_iter(), SignableBody::Bytes(body))
            .map_err(|e| {
                ApiError::new("InvalidSignatureException", &format!("cannot read the request to check it: {e}"))
            })?;
        let mut settings = SigningSettings::default();
        if signed.signed_headers.contains(&"x-amz-content-sha256") {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let session = token.clone().filter(|_| signed.signed_headers.contains(&"x-amz-security-token"));
        let identity = Credentials::new(signed.access_key, secret, session, None, "traillake").into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region(signed.region)
            .name(signed.service)
            .time(date)
            .settings(settings)
            .build()
            .map_err(|e| ApiError::internal(&format!("signing parameters: {e}")))?;
        let output = sign(request, &params.into())
            .map_err(|e| ApiError::new("InvalidSignatureException", &format!("cannot check the signature: {e}")))?;
        if !constant_time_eq(output.signature().as_bytes(), signed.signature.as_bytes()) {
            return Err(ApiError::new(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
            )
            .status(403));
        }
        Ok(())
    }
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`
/// header.
struct Authorization<'a> {
    access_key: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

impl<'a> Authorization<'a> {
    fn parse(header: &'a str) -> Option<Self> {
        let rest = header.strip_prefix("AWS4-HMAC-SHA256")?.trim();
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',').map(str::trim) {
            let (k, v) = part.split_once('=')?;
            match k {
                "Credential" => credential = Some(v),
                "SignedHeaders" => signed = Some(v),
                "Signature" => signature = Some(v),
                _ => {}
            }
        }
        let mut scope = credential?.split('/');
        let (access_key, _date, region, service) = (scope.next()?, scope.next()?, scope.next()?, scope.next()?);
        Some(Self { access_key, region, service, signed_headers: signed?.split(';').collect(), signature: signature? })
    }
}

/// `20261207T153000Z`.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ").ok()?.and_utc();
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(t.timestamp()).ok()?))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_headers_and_credentials_files_parse() {
        let a = Authorization::parse(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/us-east-1/cloudtrail/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abc",
        )
        .expect("parse");
        assert_eq!((a.access_key, a.region, a.service, a.signature), ("AKIDEXAMPLE", "us-east-1", "cloudtrail", "abc"));
        assert_eq!(a.signed_headers, ["content-type", "host", "x-amz-date", "x-amz-target"]);
        assert!(Authorization::parse("Basic dXNlcg==").is_none());
        let dir = std::env::temp_dir().join(format!("traillake-creds-{}", std::process::id()));
        std::fs::write(&dir, "[default]\naws_access_key_id = AKID1\naws_secret_access_key=s1\n\n[other]\n# x\naws_access_key_id=AKID2\naws_secret_access_key = s2\naws_session_token = t\n").expect("write");
        let keys = Keys::load(&dir).expect("load");
        assert_eq!(keys.keys.get("AKID2"), Some(&("s2".to_string(), Some("t".to_string()))));
        assert_eq!(keys.keys.len(), 2);
        std::fs::write(&dir, "[default]\nregion = us-east-1\n").expect("write");
        assert!(Keys::load(&dir).is_err());
        let _ = std::fs::remove_file(&dir);
        assert!(parse_amz_date("20261207T153000Z").is_some() && parse_amz_date("2026-12-07").is_none());
    }

    /// A request signed by `aws-sigv4` at `time` with `secret`, as a client would send it.
    fn signed_request(secret: &str, time: SystemTime) -> (Parts, Vec<u8>) {
        let body = br#"{"QueryStatement":"SELECT 1"}"#.to_vec();
        let headers =
            [("content-type", "application/x-amz-json-1.1"), ("x-amz-target", "CloudTrail_20131101.StartQuery")];
        let identity = Credentials::new("AKIDTEST", secret, None, None, "test").into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("cloudtrail")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .expect("params");
        let request =
            SignableRequest::new("POST", "http://127.0.0.1:4599/", headers.iter().copied(), SignableBody::Bytes(&body))
                .expect("signable");
        let (instructions, _) = sign(request, &params.into()).expect("sign").into_parts();
        let mut builder = axum::http::Request::builder().method("POST").uri("/").header("host", "127.0.0.1:4599");
        for (k, v) in headers {
            builder = builder.header(k, v);
        }
        for (k, v) in instructions.headers() {
            builder = builder.header(k, v);
        }
        let (parts, ()) = builder.body(()).expect("request").into_parts();
        (parts, body)
    }

    #[test]
    fn signatures_are_checked_and_stale_ones_refused() {
        let keys = Keys { keys: HashMap::from([("AKIDTEST".to_string(), ("secret/+key".to_string(), None))]) };
        let (parts, body) = signed_request("secret/+key", SystemTime::now());
        assert!(keys.verify(&parts, &body).is_ok());
        let code = |r: Result<(), ApiError>| r.err().map(|e| e.code).unwrap_or_default();
        assert_eq!(code(keys.verify(&parts, b"{}")), "InvalidSignatureException", "a changed body");
        let (parts, body) = signed_request("wrong", SystemTime::now());
        assert_eq!(code(keys.verify(&parts, &body)), "InvalidSignatureException");
        let (parts, body) = signed_request("secret/+key", SystemTime::now() - Duration::from_secs(20 * 60));
        let stale = keys.verify(&parts, &body).expect_err("refused");
        assert!(stale.code == "InvalidSignatureException" && stale.message.contains("expired"), "{stale:?}");
    }
}
