//! Trino/Presto functions CloudTrail Lake users rely on, where DataFusion has none or differs.
//! Each module owns one family; `register` installs them all on a session, replacing
//! DataFusion's functions of the same name (`element_at`, `contains`, `date_format`).
//! Aggregates that only differ in spelling are rewritten in `engine::lake_sql` instead.

mod collections;
pub(super) mod json;
pub(crate) mod lambda;
mod strings;
mod time;

use std::hash::{Hash, Hasher};

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// Every Lake function, ready to register.
pub fn all() -> Vec<ScalarUDF> {
    let mut v = Vec::new();
    v.extend(collections::functions());
    v.extend(json::functions());
    v.extend(strings::functions());
    v.extend(time::functions());
    v
}

/// Installs every Lake function on `ctx`.
pub fn register(ctx: &SessionContext) {
    for f in all() {
        ctx.register_udf(f);
    }
}

/// Names the SQL layer must know are ours (for completion and `SHOW FUNCTIONS`).
pub fn names() -> Vec<String> {
    all().iter().map(|f| f.name().to_string()).collect()
}

type CoerceFn = fn(&str, &[DataType]) -> Result<Vec<DataType>>;
type ReturnFn = fn(&[DataType]) -> Result<DataType>;
type InvokeFn = fn(&[ArrayRef], &DataType) -> Result<ArrayRef>;

/// A scalar function defined by three plain functions: argument coercion, return type and a
/// kernel over arrays. Scalar-only calls are evaluated once on one-row arrays.
pub(crate) struct LakeFn {
    name: &'static str,
    aliases: Vec<String>,
    signature: Signature,
    coerce: CoerceFn,
    ret: ReturnFn,
    invoke: InvokeFn,
}

impl LakeFn {
    pub(crate) fn udf(
        name: &'static str,
        aliases: &[&str],
        coerce: CoerceFn,
        ret: ReturnFn,
        invoke: InvokeFn,
    ) -> ScalarUDF {
        ScalarUDF::new_from_impl(LakeFn {
            name,
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            signature: Signature::user_defined(Volatility::Immutable),
            coerce,
            ret,
            invoke,
        })
    }
}

impl std::fmt::Debug for LakeFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LakeFn({})", self.name)
    }
}

impl PartialEq for LakeFn {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for LakeFn {}
impl Hash for LakeFn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl ScalarUDFImpl for LakeFn {
    fn name(&self) -> &str {
        self.name
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        (self.coerce)(self.name, arg_types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        (self.ret)(arg_types)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = (self.invoke)(&arrays, args.return_field.data_type())?;
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

/// Argument count check shared by the coercion functions.
pub(crate) fn arity(name: &str, types: &[DataType], min: usize, max: usize) -> Result<()> {
    if types.len() < min || types.len() > max {
        let want = if min == max { format!("{min}") } else { format!("{min} to {max}") };
        return plan_err!("{name}() takes {want} arguments, got {}", types.len());
    }
    Ok(())
}

pub(crate) fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null)
}

pub(crate) fn is_integer(t: &DataType) -> bool {
    t.is_integer() || matches!(t, DataType::Null)
}

/// The string values of an argument already coerced to Utf8.
pub(crate) fn strings(a: &ArrayRef) -> Result<&arrow::array::StringArray> {
    match a.as_any().downcast_ref::<arrow::array::StringArray>() {
        Some(s) => Ok(s),
        None => exec_err!("expected a string argument, got {}", a.data_type()),
    }
}

pub(crate) fn int64s(a: &ArrayRef) -> Result<&arrow::array::Int64Array> {
    match a.as_any().downcast_ref::<arrow::array::Int64Array>() {
        Some(s) => Ok(s),
        None => exec_err!("expected an integer argument, got {}", a.data_type()),
    }
}

/// The elements of every array of `list` (one slice of its values) and, for each element,
/// the row it came from — what element-wise kernels need before reducing per row.
pub(crate) fn flatten<O: arrow::array::OffsetSizeTrait>(
    list: &arrow::array::GenericListArray<O>,
) -> (ArrayRef, arrow::array::UInt32Array) {
    use arrow::array::Array;
    let offsets = list.value_offsets();
    let (first, last) = (offsets[0].as_usize(), offsets[list.len()].as_usize());
    let values = list.values().slice(first, last - first);
    let parents = (0..list.len())
        .flat_map(|row| std::iter::repeat_n(row as u32, (offsets[row + 1] - offsets[row]).as_usize()))
        .collect();
    (values, parents)
}
