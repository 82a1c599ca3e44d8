//! The schema event data stores live in (`traillake.default`). Each store is listed once, by
//! its name — what a BI user picks from in `GetTables`, `information_schema.tables` or
//! SQLAlchemy's `get_table_names` — and found under every name a query may use: the name, the
//! name in lower case (unquoted identifiers are folded to it), and the id (Lake's own way to
//! name a store, bare or quoted; ARNs reach here as ids after the dialect pre-pass).
//!
//! DataFusion's `MemorySchemaProvider` lists whatever is registered, so registering each store
//! under its id and its name listed every store twice.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::Result;

#[derive(Debug, Default)]
pub(crate) struct StoreSchema {
    /// Listed name → table, in the order stores were added.
    tables: Vec<(String, Arc<dyn TableProvider>)>,
    /// Every name a table is found by → its index in `tables`.
    lookup: HashMap<String, usize>,
}

impl StoreSchema {
    /// Adds a table listed as `name` and also found by each of `aliases`.
    pub(crate) fn add(&mut self, name: &str, aliases: &[String], table: Arc<dyn TableProvider>) {
        let at = self.tables.len();
        self.tables.push((name.to_string(), table));
        for n in std::iter::once(name.to_string()).chain(aliases.iter().cloned()) {
            self.lookup.entry(n).or_insert(at);
        }
    }
}

#[async_trait]
impl SchemaProvider for StoreSchema {
    fn table_names(&self) -> Vec<String> {
        self.tables.iter().map(|(n, _)| n.clone()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(self.lookup.get(name).map(|&i| Arc::clone(&self.tables[i].1)))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.lookup.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::datasource::empty::EmptyTable;

    #[tokio::test]
    async fn a_store_is_listed_once_and_found_by_every_name() {
        let mut s = StoreSchema::default();
        let t: Arc<dyn TableProvider> = Arc::new(EmptyTable::new(Arc::new(arrow::datatypes::Schema::empty())));
        let id = "5e2676f8-9fce-46ef-8142-3e36a94e6691".to_string();
        s.add("Prod", &[id.clone(), "prod".into()], t);
        assert_eq!(s.table_names(), vec!["Prod"]);
        for name in ["Prod", "prod", id.as_str()] {
            assert!(s.table_exist(name), "{name}");
            assert!(s.table(name).await.expect("lookup").is_some(), "{name}");
        }
        assert!(!s.table_exist("PROD"));
        assert!(s.table("nosuch").await.expect("lookup").is_none());
    }
}
