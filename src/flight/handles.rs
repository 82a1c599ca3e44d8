//! What travels in tickets and prepared-statement handles. Both are self-contained (JSON): a
//! ticket carries the SQL, the bound parameters and the query id it was planned under, so any
//! `DoGet` can run it without server state; a prepared-statement handle carries its SQL, and after
//! parameters are bound the server returns an updated handle that carries them too. Clients that
//! ignore updated handles keep working through a bounded server-side table of bound parameters
//! (see `service::Bindings`).

use std::io::Cursor;

use arrow::array::RecordBatch;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use base64::Engine as _;
use datafusion::common::ScalarValue;
use tonic::Status;

/// A statement ready to run: the ticket of a `FlightInfo`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct StatementTicket {
    pub query_id: String,
    pub sql: String,
    /// One row of parameter values as Arrow IPC (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<String>,
}

/// A prepared statement's handle.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct PreparedHandle {
    /// Distinguishes two preparations of the same text (keys the server-side bindings).
    pub id: String,
    pub sql: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<String>,
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Status> {
    serde_json::to_vec(value).map_err(|e| Status::internal(format!("cannot encode handle: {e}")))
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Status> {
    serde_json::from_slice(bytes).map_err(|e| {
        Status::invalid_argument(format!("not a traillake {what} ({e}); plan or prepare the statement again"))
    })
}

/// One row of parameters (the first row of `batch`) as Arrow IPC, base64.
pub(crate) fn encode_params(batch: &RecordBatch) -> Result<String, Status> {
    let mut buf = Vec::new();
    {
        let mut w = StreamWriter::try_new(&mut buf, &batch.schema()).map_err(internal)?;
        w.write(&batch.slice(0, batch.num_rows().min(1))).map_err(internal)?;
        w.finish().map_err(internal)?;
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(buf))
}

/// The parameter values encoded by `encode_params`, in column order.
pub(crate) fn decode_params(text: &str) -> Result<Vec<ScalarValue>, Status> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| Status::invalid_argument(format!("bad parameters in handle: {e}")))?;
    let reader = StreamReader::try_new(Cursor::new(bytes), None)
        .map_err(|e| Status::invalid_argument(format!("bad parameters in handle: {e}")))?;
    let mut values = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| Status::invalid_argument(format!("bad parameters in handle: {e}")))?;
        values = row_values(&batch)?;
    }
    Ok(values)
}

/// The values of the first row of a parameter batch; a query binds exactly one row.
pub(crate) fn row_values(batch: &RecordBatch) -> Result<Vec<ScalarValue>, Status> {
    if batch.num_rows() != 1 {
        return Err(Status::invalid_argument(format!(
            "bind exactly one row of parameters to a query (got {} rows)",
            batch.num_rows()
        )));
    }
    batch
        .columns()
        .iter()
        .map(|c| ScalarValue::try_from_array(c, 0).map_err(|e| Status::invalid_argument(e.to_string())))
        .collect()
}

fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_round_trip_through_a_handle() {
        let batch = RecordBatch::try_from_iter(vec![
            ("$1", std::sync::Arc::new(arrow::array::StringArray::from(vec!["ConsoleLogin"])) as _),
            ("$2", std::sync::Arc::new(arrow::array::Int64Array::from(vec![Some(7)])) as _),
        ])
        .expect("batch");
        let text = encode_params(&batch).expect("encode");
        let h = PreparedHandle { id: "x".into(), sql: "SELECT ?".into(), params: Some(text) };
        let back: PreparedHandle = decode(&encode(&h).expect("json"), "handle").expect("decode");
        let values = decode_params(back.params.as_deref().expect("params")).expect("values");
        assert_eq!(values, vec![ScalarValue::Utf8(Some("ConsoleLogin".into())), ScalarValue::Int64(Some(7))]);
        assert!(decode::<PreparedHandle>(b"garbage", "prepared statement handle").is_err());
    }
}
