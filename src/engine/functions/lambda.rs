//! Trino's lambda functions over arrays: `any_match`, `all_match`, `none_match`, `filter`,
//! `transform`.
//!
//! DataFusion cannot plan lambdas, so `engine::lake_sql` lifts each one out of the query: the
//! body becomes a private function of this query (`__lambda_N(array, outer…)`), where every
//! reference to the lambda's parameter reads `__x` and every other column reference is passed
//! in as `__o0`, `__o1`… Evaluation flattens the arrays, evaluates the body once over all
//! elements (outer values repeated per element), then reduces per array with Trino's NULL rules.
//!
//! Why not DataFusion's own higher-order functions: DataFusion 55 has `array_any_match` (alias
//! `any_match`), `array_filter`, `array_transform` and `array_first`, but no `all_match` or
//! `none_match`, and mapping Trino's names onto them (with `all_match(a, x -> p)` as
//! `NOT any_match(a, x -> NOT p)`) failed 12 of the 131 sqllogictest records (checked
//! 2026-12-07): the planner did not resolve the lambda's parameter as given by our parser
//! ("No field named x", also for `r.type` on a struct element), so neither bodies over array
//! elements nor bodies using other columns of the row planned. Revisit when DataFusion plans
//! lambdas parsed in other dialects; `tests/slt/lambdas.slt` is the check.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef, AsArray, BooleanBuilder, ListArray, RecordBatch, RecordBatchOptions};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::common::{exec_err, plan_err, DFSchema, Result};
use datafusion::execution::SessionState;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::sql::sqlparser::ast::Expr as SqlExpr;
use datafusion::sql::sqlparser::ast::ExprWithAlias as SQLExprWithAlias;

/// The parameter's name inside a lifted body.
pub(crate) const PARAM: &str = "__x";

/// The name of the `i`-th outer value inside a lifted body.
pub(crate) fn outer_name(i: usize) -> String {
    format!("__o{i}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum LambdaKind {
    AnyMatch,
    AllMatch,
    NoneMatch,
    Filter,
    Transform,
}

impl LambdaKind {
    pub(crate) fn from_function(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "any_match" => Self::AnyMatch,
            "all_match" => Self::AllMatch,
            "none_match" => Self::NoneMatch,
            "filter" => Self::Filter,
            "transform" => Self::Transform,
            _ => return None,
        })
    }
}

pub(crate) struct LambdaUdf {
    name: String,
    kind: LambdaKind,
    body: SqlExpr,
    outer: usize,
    /// The session the body is planned in (it holds our functions and inner lambdas).
    state: SessionState,
    signature: Signature,
    compiled: OnceLock<Arc<dyn PhysicalExpr>>,
}

impl LambdaUdf {
    pub(crate) fn new(name: String, kind: LambdaKind, body: SqlExpr, outer: usize, state: SessionState) -> Self {
        Self {
            name,
            kind,
            body,
            outer,
            state,
            signature: Signature::user_defined(Volatility::Immutable),
            compiled: OnceLock::new(),
        }
    }

    /// The schema the body sees: the element as `__x`, then the outer values.
    fn body_schema(&self, arg_types: &[DataType]) -> Result<DFSchema> {
        let element = match arg_types.first() {
            Some(DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)) => f.data_type().clone(),
            Some(DataType::Null) => DataType::Null,
            Some(other) => return plan_err!("{}() takes an array, got {other}", self.kind_name()),
            None => return plan_err!("{}() needs an array", self.kind_name()),
        };
        let mut fields = vec![Field::new(PARAM, element, true)];
        for (i, t) in arg_types.iter().skip(1).enumerate() {
            fields.push(Field::new(outer_name(i), t.clone(), true));
        }
        DFSchema::try_from(Schema::new(fields))
    }

    fn body_expr(&self, schema: &DFSchema) -> Result<datafusion::logical_expr::Expr> {
        let sql = SQLExprWithAlias { expr: self.body.clone(), alias: None };
        self.state.create_logical_expr_from_sql_expr(sql, schema)
    }

    /// The body as a physical expression (coerced and simplified), planned once per query.
    /// Its type is the lambda's type, so planning and execution agree on it.
    fn compile(&self, arg_types: &[DataType]) -> Result<Arc<dyn PhysicalExpr>> {
        if let Some(p) = self.compiled.get() {
            return Ok(Arc::clone(p));
        }
        let schema = self.body_schema(arg_types)?;
        let p = self.state.create_physical_expr(self.body_expr(&schema)?, &schema)?;
        Ok(Arc::clone(self.compiled.get_or_init(|| p)))
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            LambdaKind::AnyMatch => "any_match",
            LambdaKind::AllMatch => "all_match",
            LambdaKind::NoneMatch => "none_match",
            LambdaKind::Filter => "filter",
            LambdaKind::Transform => "transform",
        }
    }
}

impl std::fmt::Debug for LambdaUdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({} -> {})", self.kind_name(), PARAM, self.body)
    }
}
impl PartialEq for LambdaUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for LambdaUdf {}
impl Hash for LambdaUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl ScalarUDFImpl for LambdaUdf {
    fn name(&self) -> &str {
        &self.name
    }
    fn display_name(&self, _args: &[datafusion::logical_expr::Expr]) -> Result<String> {
        Ok(format!("{}(…)", self.kind_name()))
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != self.outer + 1 {
            return plan_err!("{}() takes an array and a lambda", self.kind_name());
        }
        let mut out = arg_types.to_vec();
        out[0] = match &arg_types[0] {
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => DataType::List(Arc::clone(f)),
            DataType::Null => DataType::Null,
            other => return plan_err!("{}() takes an array, got {other}", self.kind_name()),
        };
        Ok(out)
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        plan_err!("{}: return type comes from return_field_from_args", self.name)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let body_type = self.compile(&types)?.data_type(self.body_schema(&types)?.as_arrow())?;
        let t = match self.kind {
            LambdaKind::AnyMatch | LambdaKind::AllMatch | LambdaKind::NoneMatch => {
                if !matches!(body_type, DataType::Boolean | DataType::Null) {
                    return plan_err!(
                        "the lambda of {}() must return a boolean, it returns {body_type}",
                        self.kind_name()
                    );
                }
                DataType::Boolean
            }
            LambdaKind::Filter => {
                if !matches!(body_type, DataType::Boolean | DataType::Null) {
                    return plan_err!("the lambda of filter() must return a boolean, it returns {body_type}");
                }
                types[0].clone()
            }
            LambdaKind::Transform => DataType::List(Arc::new(Field::new("item", body_type, true))),
        };
        Ok(Arc::new(Field::new(self.name(), t, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let list = args.args[0].to_array(rows)?;
        if list.data_type() == &DataType::Null {
            return Ok(ColumnarValue::Array(arrow::array::new_null_array(args.return_field.data_type(), rows)));
        }
        let Some(list) = list.as_list_opt::<i32>() else {
            return exec_err!("{}() takes an array, got {}", self.kind_name(), list.data_type());
        };
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let phys = self.compile(&types)?;

        // Flatten: the elements of every array, and for each the row it came from.
        let offsets = list.value_offsets();
        let first = offsets[0] as usize;
        let (values, parents) = super::flatten(list);
        let mut columns = vec![values.clone()];
        for outer in &args.args[1..] {
            columns.push(match outer {
                ColumnarValue::Scalar(s) => s.to_array_of_size(values.len())?,
                ColumnarValue::Array(a) => arrow::compute::take(a.as_ref(), &parents, None)?,
            });
        }
        let fields: Vec<Field> = std::iter::once(Field::new(PARAM, values.data_type().clone(), true))
            .chain(columns[1..].iter().enumerate().map(|(i, c)| Field::new(outer_name(i), c.data_type().clone(), true)))
            .collect();
        let batch = RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(values.len())),
        )?;
        let result = phys.evaluate(&batch)?.into_array(values.len())?;

        let out: ArrayRef = match self.kind {
            LambdaKind::Transform => {
                let field = Arc::new(Field::new("item", result.data_type().clone(), true));
                let offs = OffsetBuffer::new(offsets.iter().map(|o| o - offsets[0]).collect::<Vec<i32>>().into());
                Arc::new(ListArray::try_new(field, offs, result, list.nulls().cloned())?)
            }
            LambdaKind::Filter => {
                let keep = boolean(&result)?;
                let keep = keep.as_boolean();
                let mut new_offsets = Vec::with_capacity(list.len() + 1);
                new_offsets.push(0i32);
                let mut total = 0i32;
                for row in 0..list.len() {
                    let (s, e) = ((offsets[row] as usize) - first, (offsets[row + 1] as usize) - first);
                    total += (s..e).filter(|&j| keep.is_valid(j) && keep.value(j)).count() as i32;
                    new_offsets.push(total);
                }
                let kept = arrow::compute::filter(&values, keep)?;
                let field = match list.data_type() {
                    DataType::List(f) => Arc::clone(f),
                    _ => Arc::new(Field::new("item", values.data_type().clone(), true)),
                };
                Arc::new(ListArray::try_new(field, OffsetBuffer::new(new_offsets.into()), kept, list.nulls().cloned())?)
            }
            kind => {
                let r = boolean(&result)?;
                let r = r.as_boolean();
                let mut out = BooleanBuilder::with_capacity(list.len());
                for row in 0..list.len() {
                    if list.is_null(row) {
                        out.append_null();
                        continue;
                    }
                    let (s, e) = ((offsets[row] as usize) - first, (offsets[row + 1] as usize) - first);
                    let any_true = (s..e).any(|j| r.is_valid(j) && r.value(j));
                    let any_false = (s..e).any(|j| r.is_valid(j) && !r.value(j));
                    let any_null = (s..e).any(|j| r.is_null(j));
                    // Trino: a decisive element wins; otherwise a NULL makes the answer NULL.
                    let v = match kind {
                        LambdaKind::AnyMatch if any_true => Some(true),
                        LambdaKind::AllMatch if any_false => Some(false),
                        LambdaKind::NoneMatch if any_true => Some(false),
                        _ if any_null => None,
                        LambdaKind::AnyMatch => Some(false),
                        _ => Some(true),
                    };
                    out.append_option(v);
                }
                Arc::new(out.finish())
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// The lambda's results as booleans (a body that is only NULL has the Null type).
fn boolean(a: &ArrayRef) -> Result<ArrayRef> {
    match a.data_type() {
        DataType::Boolean => Ok(Arc::clone(a)),
        DataType::Null => Ok(arrow::compute::cast(a, &DataType::Boolean)?),
        other => exec_err!("lambda must return a boolean, got {other}"),
    }
}
