//! The Flight SQL service: statements plan at `GetFlightInfo` and run at `DoGet`, through the
//! same `Engine` (Lake dialect, read-only guard, statistics) as the command line.

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, XdbcTypeInfoData};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionCancelQueryRequest, ActionCancelQueryResult, ActionClosePreparedStatementRequest,
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, Any, CommandGetCatalogs,
    CommandGetCrossReference, CommandGetDbSchemas, CommandGetExportedKeys, CommandGetImportedKeys,
    CommandGetPrimaryKeys, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandGetXdbcTypeInfo,
    CommandPreparedStatementQuery, CommandPreparedStatementUpdate, CommandStatementIngest, CommandStatementQuery,
    CommandStatementSubstraitPlan, CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt, SqlInfo,
    TicketStatementQuery,
};
use arrow_flight::{
    Action, ActionType, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus, FlightData, FlightDescriptor,
    FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage, SchemaAsIpc, Ticket,
};
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Request, Response, Status, Streaming};

use super::auth::{Authenticator, Principal};
use super::handles::{self, PreparedHandle, StatementTicket};
use super::metadata;
use super::planner::{Metadata, Server};
use super::queries::{Phase, Queries};
use super::running::{QueryLog, Running};
use super::wire::{wire_schema, Compat};
use super::Limits;
use crate::engine::Engines;
use crate::engine::{Engine, EngineError};
use crate::store::Store;

/// Response header carrying the statement id; trailer carrying the statistics (JSON).
pub const QUERY_ID_HEADER: &str = "x-traillake-query-id";
pub const QUERY_STATS_TRAILER: &str = "x-traillake-query-stats";
const CANCEL_FLIGHT_INFO: &str = "CancelFlightInfo";

type DoGetStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send + 'static>>;

pub(crate) struct TrailLakeFlightSql {
    engines: Engines,
    auth: Authenticator,
    queries: Queries,
    limits: Limits,
    /// Which clients' type support results are shaped for.
    compat: Compat,
    sql_info: SqlInfoData,
    xdbc: XdbcTypeInfoData,
}

impl TrailLakeFlightSql {
    pub(crate) fn new(
        store: Store,
        engine: Engine,
        auth: Authenticator,
        limits: Limits,
        compat: Compat,
    ) -> Result<Self, Status> {
        let state = engine.context().state();
        let mut functions: Vec<String> = state.scalar_functions().keys().cloned().collect();
        functions.extend(state.aggregate_functions().keys().cloned());
        let sql_info = metadata::sql_info(limits.query_timeout.as_millis() as i64, &functions)?;
        Ok(Self {
            engines: Engines::new(store, engine, limits.refresh_interval),
            auth,
            queries: Queries::new(limits.max_concurrent_queries),
            limits,
            compat,
            sql_info,
            xdbc: metadata::xdbc_info()?,
        })
    }

    pub(crate) fn authenticator(&self) -> Authenticator {
        self.auth.clone()
    }

    /// Plans a statement and describes it; nothing runs until `DoGet`.
    async fn plan(
        &self,
        sql: String,
        params: Option<String>,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let engine = self.engines.get().await;
        let query = engine.plan(&sql).await.map_err(status_of)?;
        let query = match &params {
            Some(p) => query.bind(handles::decode_params(p)?).map_err(status_of)?,
            None => {
                require_no_parameters(&query)?;
                query
            }
        };
        let schema = wire_schema(&query.schema(), self.compat);
        let query_id = uuid::Uuid::new_v4().to_string();
        self.queries.entry(&query_id);
        let ticket = StatementTicket { query_id: query_id.clone(), sql, params };
        let ticket = TicketStatementQuery { statement_handle: handles::encode(&ticket)?.into() };
        let info = flight_info(&schema, ticket.as_any().encode_to_vec(), descriptor)?
            .with_app_metadata(serde_json::json!({ "queryId": query_id }).to_string().into_bytes());
        Ok(Response::new(info))
    }

    /// Runs a planned statement and streams its result in the wire schema.
    async fn run(&self, ticket: StatementTicket, user: String) -> Result<Response<DoGetStream>, Status> {
        let entry = self.queries.entry(&ticket.query_id);
        let cancelled = entry.cancelled();
        if *cancelled.borrow() {
            return Err(Status::cancelled(format!("query {} was cancelled", ticket.query_id)));
        }
        let slot = self.queries.slot()?;
        let engine = self.engines.get().await;
        let query = engine.plan(&ticket.sql).await.map_err(status_of)?;
        let query = match &ticket.params {
            Some(p) => query.bind(handles::decode_params(p)?).map_err(status_of)?,
            None => {
                require_no_parameters(&query)?;
                query
            }
        };
        let schema = wire_schema(&query.schema(), self.compat);
        let stream = query.execute_with(Some(self.limits.query_memory_bytes)).await.map_err(status_of)?;
        entry.set(Phase::Running);
        let stats = Arc::new(Mutex::new(None));
        let running = Running {
            stream,
            schema: Arc::clone(&schema),
            cancelled,
            deadline: tokio::time::Instant::now() + self.limits.query_timeout,
            timeout: self.limits.query_timeout,
            entry,
            slot: Some(slot),
            done: false,
            stats: Arc::clone(&stats),
            log: QueryLog { id: ticket.query_id.clone(), user, sql: ticket.sql },
        };
        let batches = futures::stream::unfold(running, |mut r| async move { r.next().await.map(|item| (item, r)) });
        let data = FlightDataEncoderBuilder::new().with_schema(schema).build(batches).map_err(Status::from);
        // After the last batch: the statistics as trailing metadata of a successful call.
        let trailer = futures::stream::once(async move {
            let mut md = MetadataMap::new();
            let taken = stats.lock().ok().and_then(|mut s| s.take());
            if let Some(s) = taken {
                if let Ok(v) = MetadataValue::try_from(serde_json::to_string(&s).unwrap_or_default()) {
                    md.insert(QUERY_STATS_TRAILER, v);
                }
            }
            Err(Status::with_metadata(Code::Ok, "", md))
        });
        let mut response = Response::new(Box::pin(data.chain(trailer)) as DoGetStream);
        if let Ok(v) = MetadataValue::try_from(ticket.query_id.as_str()) {
            response.metadata_mut().insert(QUERY_ID_HEADER, v);
        }
        Ok(response)
    }

    /// `GetFlightInfo` of a metadata command: its schema and the ticket that runs it.
    fn describe(&self, cmd: Metadata, request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        let schema = cmd.schema(&self.server())?;
        Ok(Response::new(flight_info(&schema, cmd.ticket(), request.into_inner())?))
    }

    /// `DoGet` of a metadata command: its answer in one batch.
    async fn answer(&self, cmd: Metadata) -> Result<Response<DoGetStream>, Status> {
        let engine = self.engines.get().await;
        let batch = cmd.answer(&engine, &self.server()).await?;
        Ok(one_batch(batch.schema(), Ok(batch)))
    }

    fn server(&self) -> Server<'_> {
        Server { sql_info: &self.sql_info, xdbc: &self.xdbc, compat: self.compat }
    }

    fn prepared_params(&self, handle: &PreparedHandle) -> Option<String> {
        handle.params.clone().or_else(|| self.queries.bound(&handle.id))
    }

    fn cancel_ticket(&self, info: &FlightInfo) -> Result<CancelStatus, Status> {
        let mut status = CancelStatus::NotCancellable;
        for endpoint in &info.endpoint {
            let Some(ticket) = &endpoint.ticket else { continue };
            let any = Any::decode(&*ticket.ticket).map_err(|e| Status::invalid_argument(e.to_string()))?;
            let Some(t) = any.unpack::<TicketStatementQuery>().map_err(|e| Status::invalid_argument(e.to_string()))?
            else {
                continue;
            };
            let t: StatementTicket = handles::decode(&t.statement_handle, "statement ticket")?;
            status = self.queries.cancel(&t.query_id);
            tracing::info!(query_id = %t.query_id, status = status.as_str_name(), "cancel requested");
        }
        Ok(status)
    }
}

fn require_no_parameters(query: &crate::engine::LakeQuery) -> Result<(), Status> {
    let n = query.parameter_types().map_err(status_of)?.len();
    if n > 0 {
        return Err(Status::invalid_argument(format!(
            "the statement has {n} parameter marker(s): prepare it and bind values before executing"
        )));
    }
    Ok(())
}

fn principal<T>(request: &Request<T>) -> String {
    request.extensions().get::<Principal>().map(|p| p.0.clone()).unwrap_or_else(|| "anonymous".into())
}

fn flight_info(schema: &Schema, ticket: Vec<u8>, descriptor: FlightDescriptor) -> Result<FlightInfo, Status> {
    Ok(FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(format!("cannot encode schema: {e}")))?
        .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
        .with_descriptor(descriptor)
        .with_total_records(-1)
        .with_total_bytes(-1)
        .with_ordered(true))
}

fn one_batch(schema: SchemaRef, batch: Result<RecordBatch, FlightError>) -> Response<DoGetStream> {
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures::stream::once(async move { batch }))
        .map_err(Status::from);
    Response::new(Box::pin(stream))
}

fn ipc_schema(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: ArrowError| Status::internal(e.to_string()))?;
    Ok(bytes)
}

/// Engine errors as gRPC statuses: the user's mistakes are InvalidArgument (with the message the
/// CLI would print), refusals PermissionDenied, limits ResourceExhausted.
pub(crate) fn status_of(e: EngineError) -> Status {
    let text = e.to_string();
    match &e {
        EngineError::NotReadOnly(_) => Status::permission_denied(text),
        EngineError::Sql(_) | EngineError::Evaluation(_) => Status::invalid_argument(text),
        EngineError::Store(crate::store::StoreError::NotFound(_)) => Status::not_found(text),
        EngineError::DataFusion(inner) => match inner.find_root() {
            datafusion::error::DataFusionError::ResourcesExhausted(_) => Status::resource_exhausted(format!(
                "{text} (each query may use the memory set by traillake serve --query-memory)"
            )),
            _ => Status::internal(text),
        },
        _ => Status::internal(text),
    }
}

#[tonic::async_trait]
impl FlightSqlService for TrailLakeFlightSql {
    type FlightService = TrailLakeFlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>, Status> {
        let token = self.auth.token_for_handshake(request.metadata())?;
        let payload = token.clone().unwrap_or_default();
        let output =
            futures::stream::iter(vec![Ok(HandshakeResponse { protocol_version: 0, payload: payload.into() })]);
        let mut response = Response::new(Box::pin(output) as Pin<Box<dyn Stream<Item = _> + Send>>);
        if let Some(t) = token {
            let v = MetadataValue::try_from(format!("Bearer {t}")).map_err(|e| Status::internal(e.to_string()))?;
            response.metadata_mut().insert("authorization", v);
        }
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.plan(query.query, None, request.into_inner()).await
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let handle: PreparedHandle = handles::decode(&cmd.prepared_statement_handle, "prepared statement handle")?;
        let params = self.prepared_params(&handle);
        self.plan(handle.sql, params, request.into_inner()).await
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.describe(Metadata::Catalogs(query), request)
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.describe(Metadata::Schemas(query), request)
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.describe(Metadata::Tables(query), request)
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.describe(Metadata::TableTypes(query), request)
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.describe(Metadata::SqlInfo(query), request)
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.describe(Metadata::PrimaryKeys(query), request)
    }

    async fn get_flight_info_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.describe(Metadata::ExportedKeys(query), request)
    }

    async fn get_flight_info_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.describe(Metadata::ImportedKeys(query), request)
    }

    async fn get_flight_info_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.describe(Metadata::CrossReference(query), request)
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.describe(Metadata::XdbcTypeInfo(query), request)
    }

    async fn get_flight_info_substrait_plan(
        &self,
        _query: CommandStatementSubstraitPlan,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Err(Status::unimplemented("Substrait plans are not supported; send SQL"))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let t: StatementTicket = handles::decode(&ticket.statement_handle, "statement ticket")?;
        self.run(t, principal(&request)).await
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let handle: PreparedHandle = handles::decode(&cmd.prepared_statement_handle, "prepared statement handle")?;
        let params = self.prepared_params(&handle);
        let t = StatementTicket { query_id: uuid::Uuid::new_v4().to_string(), sql: handle.sql, params };
        self.run(t, principal(&request)).await
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.answer(Metadata::Catalogs(query)).await
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.answer(Metadata::Schemas(query)).await
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.answer(Metadata::Tables(query)).await
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.answer(Metadata::TableTypes(query)).await
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.answer(Metadata::SqlInfo(query)).await
    }

    async fn do_get_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.answer(Metadata::PrimaryKeys(query)).await
    }

    async fn do_get_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.answer(Metadata::ExportedKeys(query)).await
    }

    async fn do_get_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.answer(Metadata::ImportedKeys(query)).await
    }

    async fn do_get_cross_reference(
        &self,
        query: CommandGetCrossReference,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.answer(Metadata::CrossReference(query)).await
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.answer(Metadata::XdbcTypeInfo(query)).await
    }

    async fn do_put_statement_update(
        &self,
        _ticket: CommandStatementUpdate,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(read_only())
    }

    async fn do_put_statement_ingest(
        &self,
        _ticket: CommandStatementIngest,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(read_only())
    }

    async fn do_put_prepared_statement_update(
        &self,
        _query: CommandPreparedStatementUpdate,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(read_only())
    }

    async fn do_put_substrait_plan(
        &self,
        _query: CommandStatementSubstraitPlan,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(read_only())
    }

    async fn do_put_prepared_statement_query(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let mut handle: PreparedHandle = handles::decode(&cmd.prepared_statement_handle, "prepared statement handle")?;
        let mut batches = arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(
            request.into_inner().map_err(FlightError::from),
        );
        let mut last = None;
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(|e| Status::invalid_argument(format!("reading bound parameters: {e}")))?;
            if batch.num_rows() > 0 || last.is_none() {
                last = Some(batch);
            }
        }
        let batch = last.ok_or_else(|| Status::invalid_argument("no parameter values were sent"))?;
        handles::row_values(&batch)?;
        let params = handles::encode_params(&batch)?;
        self.queries.bind(&handle.id, params.clone());
        handle.params = Some(params);
        Ok(DoPutPreparedStatementResult { prepared_statement_handle: Some(handles::encode(&handle)?.into()) })
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let engine = self.engines.get().await;
        let planned = engine.plan(&query.query).await.map_err(status_of)?;
        let dataset = wire_schema(&planned.schema(), self.compat);
        let types = planned.parameter_types().map_err(status_of)?;
        let parameter_schema = if types.is_empty() {
            bytes::Bytes::new()
        } else {
            let fields: Vec<Field> = types
                .iter()
                .enumerate()
                .map(|(i, t)| Field::new(format!("${}", i + 1), t.clone().unwrap_or(DataType::Utf8), true))
                .collect();
            ipc_schema(&wire_schema(&Schema::new(fields), Compat::Standard))?
        };
        let handle = PreparedHandle { id: uuid::Uuid::new_v4().to_string(), sql: query.query, params: None };
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handles::encode(&handle)?.into(),
            dataset_schema: ipc_schema(&dataset)?,
            parameter_schema,
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<(), Status> {
        let handle: PreparedHandle = handles::decode(&query.prepared_statement_handle, "prepared statement handle")?;
        self.queries.unbind(&handle.id);
        Ok(())
    }

    async fn do_action_cancel_query(
        &self,
        query: ActionCancelQueryRequest,
        _request: Request<Action>,
    ) -> Result<ActionCancelQueryResult, Status> {
        let info = FlightInfo::decode(&*query.info).map_err(|e| Status::invalid_argument(e.to_string()))?;
        // CancelResult and CancelStatus share their numbering.
        Ok(ActionCancelQueryResult { result: self.cancel_ticket(&info)? as i32 })
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        let action = request.into_inner();
        if action.r#type != CANCEL_FLIGHT_INFO {
            return Err(Status::invalid_argument(format!("unknown action {:?}", action.r#type)));
        }
        let req = CancelFlightInfoRequest::decode(action.body).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let info = req.info.ok_or_else(|| Status::invalid_argument("CancelFlightInfo without a FlightInfo"))?;
        let result = CancelFlightInfoResult::new(self.cancel_ticket(&info)?);
        let body = arrow_flight::Result { body: result.encode_to_vec().into() };
        Ok(Response::new(Box::pin(futures::stream::iter(vec![Ok(body)]))))
    }

    async fn list_custom_actions(&self) -> Option<Vec<Result<ActionType, Status>>> {
        Some(vec![Ok(ActionType {
            r#type: CANCEL_FLIGHT_INFO.into(),
            description: "Cancels a statement planned by GetFlightInfo (running or not yet started).".into(),
        })])
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

fn read_only() -> Status {
    Status::permission_denied("traillake is read-only (like CloudTrail Lake): only SELECT queries are accepted")
}
