//! Tamper evidence on the command line: `validate-logs`, `keys generate`, saving signed query
//! results (`--save-results`) and `verify-query-results`.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use super::investigate::parse_time;
use super::InfoFormat;
use crate::engine::Engine;
use crate::error::Error;
use crate::ingest::digests::validate::{self, ValidateOptions};
use crate::keys::{PublicKeys, SigningKey};
use crate::output::signed;

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
    let opts = ValidateOptions {
        start: a.start_time,
        end: a.end_time,
        keys,
        account_ids: a.account_ids,
        chain_heads_only: false,
    };
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

/// `--save-results` and its companions, on `query` and `queries run`.
#[derive(Debug, Args, Clone, Default)]
pub struct SaveResultsArgs {
    /// Save the result as CloudTrail Lake delivers it: result_1.csv.gz, result_2.csv.gz, … and
    /// result_sign.json (SHA-256 of each file, signed with --signing-key). The folder must be
    /// new or empty.
    #[arg(long, value_name = "DIR")]
    pub save_results: Option<PathBuf>,
    /// Private key (PEM PKCS#8 or PKCS#1, e.g. from `traillake keys generate`) to sign
    /// result_sign.json with; without it the hashes are written but not signed.
    #[arg(long, value_name = "KEY", requires = "save_results")]
    pub signing_key: Option<PathBuf>,
    /// Begin a new result file after this much CSV (uncompressed): bytes, or with K, M, G.
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size, requires = "save_results")]
    pub max_result_file_size: u64,
}

/// `1024`, `64K`, `10M`, `1G` (binary units).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => return Err(format!("`{s}` is not a size: use bytes, or a number with K, M or G")),
    };
    let n: u64 = digits.parse().map_err(|_| format!("`{s}` is not a size: use bytes, or a number with K, M or G"))?;
    Ok((n << shift).max(1))
}

/// Runs `sql` into a folder of signed results (`args.save_results` is set).
pub async fn save_results(engine: &Engine, sql: &str, args: &SaveResultsArgs, stats: bool) -> Result<i32, Error> {
    let Some(dir) = &args.save_results else { return Ok(0) };
    let key = args.signing_key.as_deref().map(SigningKey::load).transpose()?;
    let saved = signed::save(engine, sql, dir, key.as_ref(), args.max_result_file_size).await?;
    eprintln!(
        "{} rows in {} result files and {} in {}{}",
        saved.stats.rows_returned,
        saved.files.len(),
        signed::SIGN_FILE,
        dir.display(),
        if saved.signed { "" } else { " (not signed: give --signing-key KEY to sign)" }
    );
    if stats {
        eprintln!("{}", saved.stats.summary());
    }
    Ok(0)
}

#[derive(Debug, Args)]
#[command(after_help = "Exit status: 0 every file listed in result_sign.json is present and unchanged, no other \
result file is there, and the signature verifies; 1 otherwise.")]
pub struct VerifyQueryResultsArgs {
    /// The folder the results were saved or downloaded to.
    #[arg(long, value_name = "DIR")]
    pub local_export_path: PathBuf,
    /// The signer's public key: PEM, DER, `list-public-keys` JSON, or a folder of them
    /// (repeatable); matched by publicKeyFingerprint.
    #[arg(long = "public-key", value_name = "FILE|DIR", required = true)]
    pub public_keys: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: InfoFormat,
}

pub fn verify_query_results(a: VerifyQueryResultsArgs) -> Result<i32, Error> {
    let keys = PublicKeys::load(&a.public_keys)?;
    let v = signed::verify(&a.local_export_path, &keys)?;
    match a.format {
        InfoFormat::Json => super::print_json(&v)?,
        InfoFormat::Table => print!("{}", v.text()),
    }
    Ok(if v.is_valid() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_as_people_write_them() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("ten").is_err() && parse_size("5T").is_err());
    }
}
