//! Tamper evidence on the command line: `validate-logs`, `keys generate`.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use super::investigate::parse_time;
use super::InfoFormat;
use crate::error::Error;
use crate::ingest::digests::validate::{self, ValidateOptions};
use crate::keys::{PublicKeys, SigningKey};

#[derive(Debug, Args)]
#[command(after_help = "Signatures: S3 sources carry each digest's signature in x-amz-meta-signature; a local copy \
may keep it in a `<digest>.sig` sidecar (hex). Without either, the signature is reported \"not checked\" and \
everything else is still checked.\n\
Exit status: 0 every check made passed; 1 a digest or log file is invalid or missing, a log file no digest names \
lies in the time the digests cover, no digest was found, or (with --require-signatures) a signature could not be \
verified.\n\
--verbose (-v) lists every file checked, not only the invalid ones.")]
pub struct ValidateLogsArgs {
    /// Trail folders or s3://bucket/prefix in the AWSLogs/... layout (single-account or
    /// organization trails, any number of accounts and Regions).
    #[arg(required = true)]
    pub sources: Vec<String>,
    /// Validate digests from this time (RFC 3339, YYYY-MM-DD[ HH:MM:SS] UTC, or epoch seconds);
    /// default: each chain's start.
    #[arg(long, value_parser = parse_time)]
    pub start_time: Option<DateTime<Utc>>,
    /// Up to this time; default now.
    #[arg(long, value_parser = parse_time)]
    pub end_time: Option<DateTime<Utc>>,
    /// Public keys: `aws cloudtrail list-public-keys` JSON, a PEM or DER key, or a folder of
    /// them (repeatable). A digest is matched to its key by digestPublicKeyFingerprint.
    #[arg(long = "public-key", value_name = "FILE|DIR")]
    pub public_keys: Vec<PathBuf>,
    /// Only this account's digests and log files (repeatable).
    #[arg(long = "account-id", value_name = "ID")]
    pub account_ids: Vec<String>,
    /// Fail unless every digest's signature was verified.
    #[arg(long)]
    pub require_signatures: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: InfoFormat,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an RSA 2048 signing key: private.pem (PKCS#8, keep it secret), public.pem,
    /// public.der (PKCS#1) and public-keys.json (the `aws cloudtrail list-public-keys` shape).
    Generate {
        /// Folder to write the four files to (created if absent).
        #[arg(long)]
        out: PathBuf,
        /// Replace keys already in the folder.
        #[arg(long)]
        force: bool,
    },
}

/// `verbose`: the global `--verbose`, which here also lists every file (as the AWS CLI's does).
pub async fn validate_logs(a: ValidateLogsArgs, verbose: bool) -> Result<i32, Error> {
    let keys = PublicKeys::load(&a.public_keys)?;
    let opts = ValidateOptions { start: a.start_time, end: a.end_time, keys, account_ids: a.account_ids };
    let report = validate::validate(&a.sources, &opts).await?;
    match a.format {
        InfoFormat::Json => super::print_json(&report)?,
        InfoFormat::Table => print!("{}", report.text(verbose)),
    }
    Ok(if report.all_valid(a.require_signatures) { 0 } else { 1 })
}

pub fn keys(cmd: KeysCommand) -> Result<i32, Error> {
    match cmd {
        KeysCommand::Generate { out, force } => {
            let private = out.join("private.pem");
            if private.exists() && !force {
                return Err(Error::Usage(format!(
                    "{} already exists: keep it, or replace it with --force (what it signed will no longer verify \
                     with the new key)",
                    private.display()
                )));
            }
            let saved = SigningKey::generate()?.save(&out)?;
            eprintln!(
                "wrote {} (keep it secret), {}, {} and {}",
                saved.private_pem.display(),
                saved.public_pem.display(),
                saved.public_der.display(),
                saved.public_keys_json.display()
            );
            println!("{}", saved.fingerprint);
            Ok(0)
        }
    }
}
