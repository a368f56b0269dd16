//! Opening a job's endpoints as its owner: how the CLI, the server and the workers give the
//! engine's `Runner` a job's sources and destination.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_engine::{Job, OpenJob, Opened};

use crate::connections::Connections;
use crate::specs::{as_connection, open_destination, open_source};

/// Opens jobs with the connections of their owners (a server or a worker serves everyone's
/// jobs; the CLI's are the machine user's, '').
pub struct JobOpener {
    connections: Arc<Connections>,
}

impl JobOpener {
    pub fn new(connections: Arc<Connections>) -> JobOpener {
        JobOpener { connections }
    }

    async fn try_open(&self, job: &Job) -> anyhow::Result<Opened> {
        let mut sources = Vec::with_capacity(job.spec.sources.len());
        for spec in &job.spec.sources {
            sources.push(open_source(&self.connections, &job.owner, spec).await?);
        }
        let destination =
            open_destination(&self.connections, &job.owner, &job.spec.destination).await?;
        let service = match as_connection(&job.spec.destination) {
            Some((name, _)) => self.connections.row(&job.owner, name).await?.service,
            None => "folder".to_string(),
        };
        Ok(Opened {
            sources,
            destination,
            service,
            documents: Some(Arc::new(ferry_archives::ferry::ArchiveDocuments)),
        })
    }
}

#[async_trait]
impl OpenJob for JobOpener {
    async fn open(&self, job: &Job) -> Result<Opened, String> {
        self.try_open(job)
            .await
            .map_err(|err| crate::one_line(&err))
    }
}
