//! Who may talk to the server. `Handshake` turns HTTP Basic credentials into a bearer token
//! returned in the `authorization` response header (what the JDBC and ADBC drivers read); every
//! other call carries `authorization: Bearer <token>` (or Basic credentials again). Tokens are
//! stateless: a random nonce and a SHA-256 MAC of it under a secret drawn at start, so they are
//! valid until the server stops and checking one needs no lookup. Every secret comparison is
//! constant-time.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

/// How clients authenticate.
#[derive(Clone)]
pub enum AuthConfig {
    /// Anyone who can reach the address (only sensible on loopback).
    None,
    /// Basic credentials, exchanged for a bearer token at `Handshake`.
    Password { user: String, password: String },
    /// A fixed bearer token given to every client.
    Token(String),
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthConfig::None => write!(f, "no authentication"),
            AuthConfig::Password { user, .. } => write!(f, "user {user:?} with password"),
            AuthConfig::Token(_) => write!(f, "bearer token"),
        }
    }
}

/// The authenticated caller, attached to each request for the query log.
#[derive(Debug, Clone)]
pub(crate) struct Principal(pub String);

#[derive(Clone)]
pub(crate) struct Authenticator {
    config: AuthConfig,
    secret: [u8; 32],
}

impl Authenticator {
    pub(crate) fn new(config: AuthConfig) -> Self {
        let mut secret = [0u8; 32];
        secret[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        secret[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self { config, secret }
    }

    pub(crate) fn requires_auth(&self) -> bool {
        !matches!(self.config, AuthConfig::None)
    }

    /// The interceptor run before every call: rejects unauthenticated requests and records who
    /// made the others.
    pub(crate) fn intercept(&self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let who = self.authenticate(request.metadata())?;
        request.extensions_mut().insert(Principal(who));
        Ok(request)
    }

    /// Checks the `authorization` header; returns the user name for the log.
    pub(crate) fn authenticate(&self, metadata: &MetadataMap) -> Result<String, Status> {
        let header = metadata.get("authorization").map(|v| v.to_str().unwrap_or_default().trim().to_string());
        match (&self.config, header) {
            (AuthConfig::None, _) => Ok("anonymous".into()),
            (_, None) => Err(Status::unauthenticated(
                "authentication required: send user and password (Handshake with Basic credentials) or a bearer token",
            )),
            (config, Some(h)) => {
                if let Some((user, password)) = basic_credentials(&h) {
                    match config {
                        AuthConfig::Password { user: u, password: p }
                            if ct_eq_hashed(&user, u) & ct_eq_hashed(&password, p) =>
                        {
                            Ok(user)
                        }
                        _ => Err(Status::unauthenticated("wrong user name or password")),
                    }
                } else if let Some(token) = strip_prefix_ci(&h, "bearer ") {
                    let token = token.trim();
                    let ok = match config {
                        AuthConfig::Token(t) => ct_eq_hashed(token, t),
                        AuthConfig::Password { .. } => self.verify_token(token),
                        AuthConfig::None => true,
                    };
                    match (ok, config) {
                        (true, AuthConfig::Password { user, .. }) => Ok(user.clone()),
                        (true, _) => Ok("token".into()),
                        (false, _) => Err(Status::unauthenticated(
                            "invalid or expired bearer token (tokens end when the server restarts); connect again",
                        )),
                    }
                } else {
                    Err(Status::unauthenticated("unsupported authorization header: use Basic or Bearer"))
                }
            }
        }
    }

    /// The token a successful handshake hands out (None when no authentication is configured).
    pub(crate) fn token_for_handshake(&self, metadata: &MetadataMap) -> Result<Option<String>, Status> {
        self.authenticate(metadata)?;
        Ok(match &self.config {
            AuthConfig::None => None,
            AuthConfig::Token(t) => Some(t.clone()),
            AuthConfig::Password { .. } => Some(self.issue_token()),
        })
    }

    fn issue_token(&self) -> String {
        let nonce = uuid::Uuid::new_v4();
        format!("{}.{}", hex::encode(nonce.as_bytes()), hex::encode(self.mac(nonce.as_bytes())))
    }

    fn verify_token(&self, token: &str) -> bool {
        let Some((nonce, mac)) = token.split_once('.') else { return false };
        let (Ok(nonce), Ok(mac)) = (hex::decode(nonce), hex::decode(mac)) else { return false };
        ct_eq(&self.mac(&nonce), &mac)
    }

    fn mac(&self, nonce: &[u8]) -> [u8; 32] {
        // HMAC-style keyed hash: secret outside and inside, so no length extension applies.
        let inner = Sha256::new().chain_update(self.secret).chain_update(nonce).finalize();
        Sha256::new().chain_update(self.secret).chain_update(inner).finalize().into()
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)).then(|| &s[prefix.len()..])
}

/// `Basic base64(user:password)` → (user, password). The base64 may come with or without its
/// `=` padding: RFC 7617 clients differ (the ADBC Flight SQL driver 1.13 leaves it out), and a
/// `user:password` that is not a multiple of 3 bytes long is exactly where they differ.
fn basic_credentials(header: &str) -> Option<(String, String)> {
    use base64::engine::{general_purpose, DecodePaddingMode, GeneralPurpose};
    const EITHER_PADDING: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        general_purpose::PAD.with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let encoded = strip_prefix_ci(header, "basic ")?;
    let decoded = EITHER_PADDING.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Compares two secrets in time independent of where they differ and of their lengths.
fn ct_eq_hashed(given: &str, expected: &str) -> bool {
    let a: [u8; 32] = Sha256::digest(given.as_bytes()).into();
    let b: [u8; 32] = Sha256::digest(expected.as_bytes()).into();
    ct_eq(&a, &b)
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| std::hint::black_box(acc | (x ^ y)));
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(v: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", v.parse().expect("header"));
        m
    }

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
    }

    #[test]
    fn password_mode_issues_tokens_that_verify() {
        let auth = Authenticator::new(AuthConfig::Password { user: "alice".into(), password: "s3cret".into() });
        let token = auth.token_for_handshake(&with_header(&basic("alice", "s3cret"))).expect("ok").expect("token");
        assert_eq!(auth.authenticate(&with_header(&format!("Bearer {token}"))).expect("bearer"), "alice");
        assert!(auth.token_for_handshake(&with_header(&basic("alice", "wrong"))).is_err());
        assert!(auth.authenticate(&with_header("Bearer 00.11")).is_err());
        assert!(auth.authenticate(&MetadataMap::new()).is_err());
        // A token from another server instance (another secret) is refused.
        let other = Authenticator::new(AuthConfig::Password { user: "alice".into(), password: "s3cret".into() });
        let foreign = other.issue_token();
        assert!(auth.authenticate(&with_header(&format!("Bearer {foreign}"))).is_err());
    }

    /// Every length of `user:password` mod 3, each sent padded and unpadded, is accepted; a
    /// wrong password is refused however it is padded.
    #[test]
    fn basic_credentials_are_accepted_with_or_without_padding() {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
        let cases = [("al", "pw1x"), ("alice", "s3cret"), ("bob", "pw12"), ("a", "b")];
        let remainders: std::collections::BTreeSet<usize> =
            cases.iter().map(|(u, p)| (u.len() + 1 + p.len()) % 3).collect();
        assert_eq!(remainders.len(), 3, "every length mod 3 is covered");
        for (user, password) in cases {
            let auth = Authenticator::new(AuthConfig::Password { user: user.into(), password: password.into() });
            let text = format!("{user}:{password}");
            let padded = STANDARD.encode(&text);
            let unpadded = STANDARD_NO_PAD.encode(&text);
            for encoded in [&padded, &unpadded] {
                let who = auth.authenticate(&with_header(&format!("Basic {encoded}")));
                assert_eq!(who.expect("accepted"), user, "{text:?} as {encoded:?}");
            }
            let wrong = STANDARD_NO_PAD.encode(format!("{user}:{password}x"));
            assert!(auth.authenticate(&with_header(&format!("Basic {wrong}"))).is_err());
        }
    }

    #[test]
    fn token_mode_and_open_mode() {
        let auth = Authenticator::new(AuthConfig::Token("t0k".into()));
        assert!(auth.authenticate(&with_header("Bearer t0k")).is_ok());
        assert!(auth.authenticate(&with_header("bearer t0k")).is_ok());
        assert!(auth.authenticate(&with_header("Bearer t0K")).is_err());
        let open = Authenticator::new(AuthConfig::None);
        assert!(open.authenticate(&MetadataMap::new()).is_ok());
        assert!(!ct_eq(b"a", b"ab"));
    }
}
