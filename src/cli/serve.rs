//! `traillake serve`: the Flight SQL endpoint, until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::error::Error;
use crate::flight::{self, AuthConfig, Compat, Limits, ServeError, ServeOptions, TlsFiles};
use crate::store::Store;

#[derive(Debug, Args)]
#[command(
    after_help = "Clients: JDBC  jdbc:arrow-flight-sql://127.0.0.1:50051/?useEncryption=false&user=U&password=P\n\
         ADBC  adbc_driver_flightsql.dbapi.connect(\"grpc://127.0.0.1:50051\", db_kwargs={\"username\": U, \"password\": P})\n\
         See README.md for DBeaver, Superset and Grafana."
)]
pub struct ServeArgs {
    /// Address to listen on. Only loopback is served without authentication.
    #[arg(long, env = "TRAILLAKE_ADDR", default_value = "127.0.0.1:50051")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub credentials: CredentialArgs,
    /// TLS certificate chain (PEM); with --tls-key the endpoint speaks grpc+tls.
    #[arg(long, env = "TRAILLAKE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "TRAILLAKE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds a query may run before it is stopped.
    #[arg(long, env = "TRAILLAKE_QUERY_TIMEOUT", default_value_t = 300)]
    pub query_timeout: u64,
    /// Memory each query may use, in MiB (sorts and aggregations spill to disk beyond it).
    #[arg(long, env = "TRAILLAKE_QUERY_MEMORY_MB", default_value_t = 2048)]
    pub query_memory_mb: usize,
    /// Shape results for a client that reads only some Arrow types. `grafana`: integers as
    /// int64, dates and timestamps as nanosecond timestamps, nested values as JSON text (what
    /// Grafana's Flight SQL data source can show); other clients keep the nested shape.
    #[arg(long, value_enum, env = "TRAILLAKE_COMPAT", default_value_t = CompatArg::Standard)]
    pub compat: CompatArg,
    /// Queries running at once; more are refused with a "server busy" error.
    #[arg(long, env = "TRAILLAKE_MAX_CONCURRENT_QUERIES", default_value_t = 64)]
    pub max_concurrent_queries: usize,
    /// Also answer the AWS CloudTrail API over HTTP (StartQuery, GetQueryResults, …), so boto3
    /// and the AWS CLI work with `--endpoint-url http://ADDR`.
    #[arg(long)]
    pub aws_api: bool,
    /// Address of the AWS API endpoint.
    #[arg(long, env = "TRAILLAKE_AWS_ADDR", default_value = "127.0.0.1:4599", requires = "aws_api")]
    pub aws_addr: SocketAddr,
    /// An AWS credentials file (`[profile]` sections with aws_access_key_id and
    /// aws_secret_access_key): requests must be signed (SigV4) with one of its keys. Required off
    /// loopback.
    #[arg(long, env = "TRAILLAKE_AWS_CREDENTIALS", requires = "aws_api")]
    pub aws_credentials: Option<PathBuf>,
    /// Hours finished queries' results stay available to GetQueryResults (Lake: 7 days).
    #[arg(long, default_value_t = 168, requires = "aws_api")]
    pub aws_results_hours: u64,
    /// Serve only the AWS API (with --aws-api), no Flight SQL endpoint.
    #[arg(long, requires = "aws_api")]
    pub no_flight_sql: bool,
}

/// `--compat` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompatArg {
    /// Every Arrow reader (ADBC, JDBC, pandas, DBeaver, Superset).
    Standard,
    /// Grafana's Flight SQL data source.
    Grafana,
}

/// Who may connect to a server (`serve`, `dashboard`): a user and password, or a bearer token;
/// none only on loopback unless `--allow-unauthenticated`.
#[derive(Debug, Args)]
pub struct CredentialArgs {
    /// User name clients authenticate with (HTTP Basic; Flight SQL exchanges it for a bearer token).
    #[arg(long, env = "TRAILLAKE_USER", requires = "password", conflicts_with = "token")]
    pub user: Option<String>,
    /// Password for --user.
    #[arg(long, env = "TRAILLAKE_PASSWORD", requires = "user", hide_env_values = true)]
    pub password: Option<String>,
    /// A fixed bearer token clients send instead of a user and password.
    #[arg(long, env = "TRAILLAKE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Serve a non-loopback address without authentication (only on a trusted network).
    #[arg(long)]
    pub allow_unauthenticated: bool,
}

pub(crate) async fn serve(store_spec: &str, a: ServeArgs) -> Result<i32, Error> {
    let store = Store::open(store_spec)?;
    let auth = match (a.credentials.user, a.credentials.password, a.credentials.token) {
        (Some(user), Some(password), None) => AuthConfig::Password { user, password },
        (None, None, Some(token)) => AuthConfig::Token(token),
        (None, None, None) => AuthConfig::None,
        _ => return Err(Error::Usage("give --user and --password, or --token, not both".into())),
    };
    let tls = match (a.tls_cert, a.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        _ => None,
    };
    if tls.is_none() && !matches!(auth, AuthConfig::None) && !a.addr.ip().is_loopback() {
        eprintln!("warning: credentials will cross the network unencrypted; add --tls-cert and --tls-key");
    }
    let limits = Limits {
        query_timeout: Duration::from_secs(a.query_timeout.max(1)),
        query_memory_bytes: a.query_memory_mb.max(16) << 20,
        max_concurrent_queries: a.max_concurrent_queries.max(1),
        ..Limits::default()
    };
    let compat = match a.compat {
        CompatArg::Standard => Compat::Standard,
        CompatArg::Grafana => Compat::Grafana,
    };
    let opts = ServeOptions {
        addr: a.addr,
        auth: auth.clone(),
        tls,
        limits,
        compat,
        allow_unauthenticated: a.credentials.allow_unauthenticated,
    };
    let aws = match a.aws_api {
        false => None,
        true => {
            let keys = match &a.aws_credentials {
                Some(path) => crate::awsapi::auth::Keys::load(path).map_err(Error::Usage)?,
                None => Default::default(),
            };
            let options = crate::awsapi::AwsApiOptions {
                addr: a.aws_addr,
                keys,
                allow_unauthenticated: a.credentials.allow_unauthenticated,
                results_ttl: Duration::from_secs(a.aws_results_hours.max(1) * 3600),
                query_timeout: Duration::from_secs(a.query_timeout.max(1)),
            };
            let server = crate::awsapi::start(store.clone(), options).await.map_err(|e| match e {
                crate::awsapi::AwsApiError::Engine(e) => Error::Engine(e),
                e => Error::Usage(e.to_string()),
            })?;
            if !a.aws_addr.ip().is_loopback() {
                eprintln!(
                    "warning: the AWS API is plain HTTP: requests and results cross the network unencrypted; \
                     put a TLS proxy in front of {}",
                    a.aws_addr
                );
            }
            let signed = if a.aws_credentials.is_some() { "requests signed with SigV4" } else { "unsigned, loopback" };
            eprintln!(
                "traillake AWS CloudTrail API on {} ({signed}): aws cloudtrail --endpoint-url {} …",
                server.url(),
                server.url()
            );
            Some(server)
        }
    };
    let flight = match a.no_flight_sql {
        true => None,
        false => {
            let server = flight::start(store, opts).await.map_err(|e| match e {
                ServeError::Engine(e) => Error::Engine(e),
                e @ (ServeError::Unauthenticated(_)
                | ServeError::Bind { .. }
                | ServeError::TlsFile { .. }
                | ServeError::Tls(_)) => Error::Usage(e.to_string()),
                e => Error::Internal(e.to_string()),
            })?;
            eprintln!("traillake Flight SQL endpoint on {} ({auth:?}); Ctrl-C stops it", server.url());
            Some(server)
        }
    };
    shutdown_signal().await;
    eprintln!("stopping: waiting for running queries to finish");
    if let Some(server) = aws {
        server.stop();
    }
    if let Some(server) = flight {
        server.stop().await.map_err(|e| Error::Internal(e.to_string()))?;
    }
    Ok(0)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
