//! The registry for synchronous callers (the `livelab` command line): each call runs the
//! async [`Registry`] to completion on a runtime of its own.

use crate::error::RegistryError;
use crate::location::RegistryUrl;
use crate::model::{NewRun, RunFilter, RunId, RunRow, Series, SeriesFilter, StoredRun};
use crate::store;

/// A [`store::Registry`] with a current-thread runtime; its methods block.
pub struct Registry {
    runtime: tokio::runtime::Runtime,
    inner: Option<store::Registry>,
}

impl Registry {
    pub fn open(url: &RegistryUrl) -> Result<Registry, RegistryError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(RegistryError::Runtime)?;
        let inner = runtime.block_on(store::Registry::open(url))?;
        Ok(Registry {
            runtime,
            inner: Some(inner),
        })
    }

    fn inner(&self) -> &store::Registry {
        self.inner.as_ref().expect("present until drop")
    }

    pub fn url(&self) -> &RegistryUrl {
        self.inner().url()
    }

    pub fn record(&self, run: &NewRun<'_>) -> Result<RunId, RegistryError> {
        self.runtime.block_on(self.inner().record(run))
    }

    pub fn list(&self, filter: &RunFilter) -> Result<Vec<RunRow>, RegistryError> {
        self.runtime.block_on(self.inner().list(filter))
    }

    pub fn run(&self, id: RunId) -> Result<StoredRun, RegistryError> {
        self.runtime.block_on(self.inner().run(id))
    }

    pub fn series(&self, filter: &SeriesFilter) -> Result<Vec<Series>, RegistryError> {
        self.runtime.block_on(self.inner().series(filter))
    }
}

impl Drop for Registry {
    /// Closes the pool on its own runtime, so that SQLite's connections end cleanly.
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            self.runtime.block_on(inner.close());
        }
    }
}
