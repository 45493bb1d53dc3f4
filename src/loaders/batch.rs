//! A relation loaded once for all the items of one list. A list resolver gives its items a
//! shared `Batch` of every key they will ask for; the first item whose field resolver runs
//! loads them all in one `load_many` (one batch, one statement), and the others wait for the
//! same answer. However long the list, and however slowly its resolvers are polled on a busy
//! machine, the list costs one round trip per relation: the count depends on the query's
//! shape, never on timing (a loader's delay can split keys that arrive one by one). Batches go
//! through the shared DataLoaders: a concurrent request's keys may join one, so requests under
//! load share statements (measured: 1.5 statements per discovery page at 16 connections instead
//! of 4); a request never costs more than its shape.

use std::{
    collections::{HashMap, HashSet},
    hash::Hash,
    sync::Arc,
};

use async_graphql::{
    dataloader::{DataLoader, Loader},
    Context,
};
use tokio::sync::OnceCell;

use super::{PgReader, ReadModelReader};
use crate::error::AppError;

/// A reader whose DataLoader a resolver can find in its context.
pub trait Reader: Sized + Send + Sync + 'static {
    fn of<'a>(ctx: &Context<'a>) -> Result<&'a DataLoader<Self>, AppError>;
}

impl Reader for PgReader {
    fn of<'a>(ctx: &Context<'a>) -> Result<&'a DataLoader<Self>, AppError> {
        super::pg(ctx)
    }
}

impl Reader for ReadModelReader {
    fn of<'a>(ctx: &Context<'a>) -> Result<&'a DataLoader<Self>, AppError> {
        super::read_models(ctx)
    }
}

/// The keys of one relation for every item of a list, loaded together on first use.
pub struct Batch<T: Loader<K>, K: Send + Sync + Hash + Eq + Clone + 'static> {
    keys: HashSet<K>,
    /// The answer, a failure included (the items after the first do not ask again).
    loaded: OnceCell<Result<HashMap<K, T::Value>, AppError>>,
}

impl<T, K> Batch<T, K>
where
    T: Loader<K, Error = AppError> + Reader,
    K: Send + Sync + Hash + Eq + Clone + 'static,
{
    /// A batch of `keys` (repeats are asked once).
    pub fn new(keys: impl IntoIterator<Item = K>) -> Arc<Self> {
        Arc::new(Self { keys: keys.into_iter().collect(), loaded: OnceCell::new() })
    }

    /// Everything the batch loaded (loading it on first use), in one `load_many`: every key at
    /// once, so one batch (concurrent requests' keys may join it: they share the statement).
    pub async fn all(&self, ctx: &Context<'_>) -> Result<&HashMap<K, T::Value>, AppError> {
        self.loaded
            .get_or_init(|| async { T::of(ctx)?.load_many(self.keys.iter().cloned()).await })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The value of `key`: from the batch when the list gave it this key, else on its own.
    pub async fn get(&self, ctx: &Context<'_>, key: K) -> Result<Option<T::Value>, AppError> {
        if !self.keys.contains(&key) {
            return T::of(ctx)?.load_one(key).await;
        }
        Ok(self.all(ctx).await?.get(&key).cloned())
    }
}
