use async_trait::async_trait;

use ferry_core::{Content, Error, MediaItem, Page, Result, Scope, Source};

use crate::service::Session;

pub struct FacebookSource {
    session: Session,
}

impl FacebookSource {
    pub fn new(session: Session) -> FacebookSource {
        FacebookSource { session }
    }
}

#[async_trait]
impl Source for FacebookSource {
    fn describe(&self) -> String {
        format!("Facebook {}:", self.session.name)
    }

    async fn list(&self, _scope: &Scope, _cursor: Option<&str>) -> Result<Page> {
        Err(Error::permanent("not built yet"))
    }

    async fn open(&self, _item: &MediaItem) -> Result<Content> {
        Err(Error::permanent("not built yet"))
    }
}
