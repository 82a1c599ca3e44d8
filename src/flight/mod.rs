//! The Arrow Flight SQL endpoint (`traillake serve`): every event data store, queryable from
//! the JDBC driver (DBeaver, IntelliJ, Tableau), ADBC (Python, Go, R), Superset and Grafana.
//!
//! - `auth`: Basic → bearer token at `Handshake`, token check on every call;
//! - `service`: plan at `GetFlightInfo`, run at `DoGet`, prepared statements, cancellation;
//! - `metadata`: `GetSqlInfo`, `GetXdbcTypeInfo`, catalogs, schemas, tables, keys;
//! - `handles`: self-contained tickets and prepared-statement handles;
//! - `queries`: running statements, the concurrency cap, bound parameters;
//! - `wire`: the one result schema every client reads.

mod auth;
mod handles;
mod metadata;
mod planner;
mod queries;
mod running;
mod service;
mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use tokio::sync::oneshot;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

pub use auth::AuthConfig;
pub use service::{QUERY_ID_HEADER, QUERY_STATS_TRAILER};
pub use wire::Compat;

use crate::engine::{Engine, EngineError};
use crate::store::Store;

/// What one client may use, so it cannot starve the others.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A statement running longer is stopped with DeadlineExceeded.
    pub query_timeout: Duration,
    /// Memory each statement may hold (its own DataFusion pool; sorts and aggregations spill).
    pub query_memory_bytes: usize,
    /// Statements running at once; more are refused with ResourceExhausted.
    pub max_concurrent_queries: usize,
    /// How often the store is checked for newly ingested events.
    pub refresh_interval: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            query_timeout: Duration::from_secs(300),
            query_memory_bytes: 2 << 30,
            max_concurrent_queries: 64,
            refresh_interval: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    pub auth: AuthConfig,
    pub tls: Option<TlsFiles>,
    pub limits: Limits,
    /// Which clients' type support results are shaped for (`serve --compat grafana`).
    pub compat: Compat,
    /// Listen on a non-loopback address without authentication anyway.
    pub allow_unauthenticated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to serve {0} without authentication: anyone who can reach it could read every event. \
         Give --user/--password or --token, or --allow-unauthenticated if the network is trusted"
    )]
    Unauthenticated(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot read TLS {what} {path}: {source}")]
    TlsFile { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("TLS setup failed: {0}")]
    Tls(tonic::transport::Error),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("server setup failed: {0}")]
    Setup(String),
    #[error("server stopped: {0}")]
    Transport(tonic::transport::Error),
}

/// A server listening in the background.
pub struct RunningServer {
    addr: SocketAddr,
    tls: bool,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl RunningServer {
    /// The address actually bound (port 0 resolves to a free port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL clients connect to (`grpc://` or `grpc+tls://`).
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "grpc+tls" } else { "grpc" }, self.addr)
    }

    /// Stops accepting calls, lets running ones finish, and waits.
    pub async fn stop(mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.wait().await
    }

    /// Waits until the server ends (it only ends on `stop` or a transport failure).
    pub async fn wait(&mut self) -> Result<(), ServeError> {
        match (&mut self.task).await {
            Ok(r) => r.map_err(ServeError::Transport),
            Err(e) => Err(ServeError::Setup(e.to_string())),
        }
    }
}

/// Opens the store's event data stores, binds `opts.addr` and serves in the background.
pub async fn start(store: Store, opts: ServeOptions) -> Result<RunningServer, ServeError> {
    let authenticator = auth::Authenticator::new(opts.auth.clone());
    if !opts.addr.ip().is_loopback() && !authenticator.requires_auth() && !opts.allow_unauthenticated {
        return Err(ServeError::Unauthenticated(opts.addr));
    }
    let engine = Engine::open(&store).await?;
    let service = service::TrailLakeFlightSql::new(store, engine, authenticator, opts.limits.clone(), opts.compat)
        .map_err(|s| ServeError::Setup(s.message().to_string()))?;
    let checker = service.authenticator();
    let flight =
        FlightServiceServer::new(service).max_decoding_message_size(64 << 20).max_encoding_message_size(usize::MAX);
    let guarded = InterceptedService::new(flight, move |req| checker.intercept(req));

    let mut builder = Server::builder();
    if let Some(tls) = &opts.tls {
        // Both ring and aws-lc are compiled into rustls here (via deltalake and tonic), so rustls
        // cannot pick a process default on its own; an error means one is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let read = |what, path: &PathBuf| {
            std::fs::read(path).map_err(|source| ServeError::TlsFile { what, path: path.clone(), source })
        };
        let identity = Identity::from_pem(read("certificate", &tls.cert)?, read("key", &tls.key)?);
        builder = builder.tls_config(ServerTlsConfig::new().identity(identity)).map_err(ServeError::Tls)?;
    }
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|source| ServeError::Bind { addr: opts.addr, source })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind { addr: opts.addr, source })?;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let (tx, rx) = oneshot::channel::<()>();
    let router = builder.add_service(guarded);
    let task = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async move {
        let _ = rx.await;
    }));
    tracing::info!(%addr, auth = ?opts.auth, tls = opts.tls.is_some(), "Flight SQL endpoint listening");
    Ok(RunningServer { addr, tls: opts.tls.is_some(), shutdown: Some(tx), task })
}
