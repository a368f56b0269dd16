use async_trait::async_trait;

use ferry_core::{
    Capabilities, Container, Content, Destination, Error, Landed, Layout, Result,
    Staged, Target, Uploaded,
};

use ferry_core::names::NameRules;

use crate::service::Session;

pub struct KoofrDestination {
    session: Session,
    root: Vec<String>,
}

impl KoofrDestination {
    pub fn new(session: Session, root: Vec<String>) -> Result<KoofrDestination> {
        Ok(KoofrDestination { session, root })
    }
}

#[async_trait]
impl Destination for KoofrDestination {
    fn describe(&self) -> String {
        format!("Koofr {}:/{}", self.session.name, self.root.join("/"))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            layout: Layout::Folders,
            names: NameRules::default(),
            max_file_size: None,
            max_commit_batch: 1,
            max_album_items: None,
        }
    }

    async fn check(&self) -> Result<()> {
        Err(Error::permanent("not built yet"))
    }

    async fn ensure_container(&self, _container: &Container) -> Result<String> {
        Err(Error::permanent("not built yet"))
    }

    async fn upload(&self, _target: &Target, _content: Content) -> Result<Uploaded> {
        Err(Error::permanent("not built yet"))
    }

    async fn commit(&self, batch: Vec<(Target, Staged)>) -> Vec<Result<Landed>> {
        batch.iter().map(|_| Err(Error::permanent("not built yet"))).collect()
    }

    async fn find(&self, _target: &Target, _staged: &Staged) -> Result<Option<Landed>> {
        Ok(None)
    }

    async fn discard(&self, _staged: &Staged) {}
}
