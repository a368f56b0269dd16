//! Koofr's REST API, one function per route (apis.md §3; go-koofrclient; Koofr's own
//! `koofr/vault` client). Paths travel in the `path` query parameter, absolute and
//! `/`-separated; `{m}` is a mount id.
//!
//! Routes whose failures the destination handles itself (a folder or name already taken, a
//! file gone) answer [`Answer::Refused`] for those statuses instead of an error.

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::{Deserialize, Serialize};

use ferry_core::Result;

use super::error;
use crate::http::{self, Answer};
use crate::service::Session;

/// Who the account is (`GET /api/v2/user`).
#[derive(Debug, Deserialize)]
pub struct User {
    pub email: String,
}

/// A storage place (`GET /api/v2/mounts`): sizes are in MiB.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub is_primary: bool,
    #[serde(default)]
    pub space_total: Option<i64>,
    #[serde(default)]
    pub space_used: Option<i64>,
    #[serde(default)]
    pub over_quota: Option<bool>,
    #[serde(default)]
    pub can_write: Option<bool>,
}

#[derive(Deserialize)]
struct Mounts {
    mounts: Vec<Mount>,
}

/// A file or folder (`FileInfo`, of which ferry reads what it compares): `hash` is the MD5
/// in hex.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub hash: Option<String>,
}

impl FileInfo {
    pub fn is_dir(&self) -> bool {
        self.kind == "dir"
    }
}

#[derive(Deserialize)]
struct Files {
    files: Vec<FileInfo>,
}

/// A public link (`POST /api/v2/mounts/{m}/links`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Link {
    pub url: Option<String>,
    pub short_url: Option<String>,
}

#[derive(Serialize)]
struct FolderCreate<'a> {
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileMove<'a> {
    to_mount_id: &'a str,
    to_path: &'a str,
}

#[derive(Serialize)]
struct LinkCreate<'a> {
    path: &'a str,
}

/// What a write that makes a name (a new folder, a moved file) did.
#[derive(Debug, PartialEq, Eq)]
pub enum Placed {
    Done,
    /// Something already has that name (409; 400 on the older v2 routes): maybe what was
    /// meant, maybe not; the caller looks.
    Taken,
    /// A folder on the way, or the file moved, is gone (404).
    Missing,
}

/// What an upload did.
pub enum Put {
    Stored(FileInfo),
    /// The folder is gone (404).
    FolderMissing,
}

/// Upload details beyond the bytes.
pub struct PutOptions<'a> {
    pub modified_ms: Option<i64>,
    pub content_type: &'a str,
    pub length: Option<u64>,
}

pub struct Client {
    session: Session,
    base: String,
}

impl Client {
    pub fn new(session: Session) -> Client {
        let base = session.config.url("base_url").to_string();
        Client { session, base }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    fn api(&self, route: &str) -> String {
        format!("{}/api/v2/{route}", self.base)
    }

    fn files(&self, mount: &str, route: &str) -> String {
        format!("{}/api/v2/mounts/{mount}/files/{route}", self.base)
    }

    /// Sends a request that can be rebuilt; the statuses in `handled` come back as
    /// [`Answer::Refused`], other failures as errors.
    async fn call(
        &self,
        what: &str,
        build: impl Fn() -> RequestBuilder,
        handled: &[StatusCode],
    ) -> Result<Answer> {
        let map = |failure| error::map(what, &failure);
        http::call(&self.session.auth, what, build, handled, map).await
    }

    /// Sends a request that cannot be rebuilt (a streaming upload), like `http::send_once`.
    async fn call_once(
        &self,
        what: &str,
        request: RequestBuilder,
        handled: &[StatusCode],
    ) -> Result<Answer> {
        let map = |failure| error::map(what, &failure);
        http::call_once(&self.session.auth, what, request, handled, map).await
    }

    /// A call whose every failure is an error.
    async fn plain(&self, what: &str, build: impl Fn() -> RequestBuilder) -> Result<Response> {
        match self.call(what, build, &[]).await? {
            Answer::Done(response) => Ok(response),
            Answer::Refused(failure) => Err(error::map(what, &failure)),
        }
    }

    pub async fn user(&self) -> Result<User> {
        let what = "reading the Koofr account";
        let url = self.api("user");
        let response = self.plain(what, || self.session.http.get(&url)).await?;
        http::json(what, response).await
    }

    pub async fn mounts(&self) -> Result<Vec<Mount>> {
        let what = "listing Koofr places";
        let url = self.api("mounts");
        let response = self.plain(what, || self.session.http.get(&url)).await?;
        Ok(http::json::<Mounts>(what, response).await?.mounts)
    }

    pub async fn mount(&self, mount: &str) -> Result<Mount> {
        let what = "reading the Koofr place";
        let url = self.api(&format!("mounts/{mount}"));
        let response = self.plain(what, || self.session.http.get(&url)).await?;
        http::json(what, response).await
    }

    /// A file's or folder's details; `None` when nothing has that path.
    pub async fn info(&self, mount: &str, path: &str) -> Result<Option<FileInfo>> {
        let what = format!("looking up {path} on Koofr");
        let url = self.files(mount, "info");
        let build = || self.session.http.get(&url).query(&[("path", path)]);
        match self.call(&what, build, &[StatusCode::NOT_FOUND]).await? {
            Answer::Done(response) => Ok(Some(http::json(&what, response).await?)),
            Answer::Refused(_) => Ok(None),
        }
    }

    /// A folder's entries; `None` when the folder is gone.
    pub async fn list(&self, mount: &str, path: &str) -> Result<Option<Vec<FileInfo>>> {
        let what = format!("listing {path} on Koofr");
        let url = self.files(mount, "list");
        let build = || self.session.http.get(&url).query(&[("path", path)]);
        match self.call(&what, build, &[StatusCode::NOT_FOUND]).await? {
            Answer::Done(response) => Ok(Some(http::json::<Files>(&what, response).await?.files)),
            Answer::Refused(_) => Ok(None),
        }
    }

    pub async fn create_folder(&self, mount: &str, parent: &str, name: &str) -> Result<Placed> {
        let what = format!("creating folder {name} in {parent} on Koofr");
        let url = self.files(mount, "folder");
        let body = FolderCreate { name };
        self.place(&what, || {
            self.session
                .http
                .post(&url)
                .query(&[("path", parent)])
                .json(&body)
        })
        .await
    }

    /// Removes a file or folder; `false` when it was already gone.
    pub async fn remove(&self, mount: &str, path: &str) -> Result<bool> {
        let what = format!("removing {path} on Koofr");
        let url = self.files(mount, "remove");
        let build = || self.session.http.delete(&url).query(&[("path", path)]);
        Ok(matches!(
            self.call(&what, build, &[StatusCode::NOT_FOUND]).await?,
            Answer::Done(_)
        ))
    }

    /// Moves (renames) `from` to `to` in the same mount; never replaces.
    pub async fn move_to(&self, mount: &str, from: &str, to: &str) -> Result<Placed> {
        let what = format!("placing {to} on Koofr");
        let url = self.files(mount, "move");
        let body = FileMove {
            to_mount_id: mount,
            to_path: to,
        };
        self.place(&what, || {
            self.session
                .http
                .put(&url)
                .query(&[("path", from)])
                .json(&body)
        })
        .await
    }

    /// Sends a write that makes a name, which Koofr refuses with 409 (400 on the older v2
    /// routes) when the name is taken and 404 when something on the way is gone.
    async fn place(&self, what: &str, build: impl Fn() -> RequestBuilder) -> Result<Placed> {
        let handled = [
            StatusCode::CONFLICT,
            StatusCode::BAD_REQUEST,
            StatusCode::NOT_FOUND,
        ];
        Ok(match self.call(what, build, &handled).await? {
            Answer::Done(_) => Placed::Done,
            Answer::Refused(f) if f.status == StatusCode::NOT_FOUND => Placed::Missing,
            Answer::Refused(_) => Placed::Taken,
        })
    }

    /// Streams a file into `dir` under `name` in one POST (Koofr has no chunked upload),
    /// replacing a file of that name (only ever ferry's own staging file). The body goes
    /// raw, as Koofr's own clients send it, with its length when known.
    pub async fn put(
        &self,
        mount: &str,
        dir: &str,
        name: &str,
        options: PutOptions<'_>,
        body: reqwest::Body,
    ) -> Result<Put> {
        let what = format!("uploading {name} to {dir} on Koofr");
        let url = format!("{}/content/api/v2/mounts/{mount}/files/put", self.base);
        let mut query: Vec<(&str, String)> = vec![
            ("path", dir.to_string()),
            ("filename", name.to_string()),
            ("info", "true".into()),
            ("overwrite", "true".into()),
            ("autorename", "false".into()),
        ];
        if let Some(ms) = options.modified_ms {
            query.push(("modified", ms.to_string()));
        }
        if let Some(length) = options.length {
            query.push(("size", length.to_string()));
        }
        let mut request = self
            .session
            .http
            .post(&url)
            .query(&query)
            .header(CONTENT_TYPE, options.content_type)
            .body(body);
        if let Some(length) = options.length {
            request = request.header(CONTENT_LENGTH, length);
        }
        match self
            .call_once(&what, request, &[StatusCode::NOT_FOUND])
            .await?
        {
            Answer::Done(response) => Ok(Put::Stored(http::json(&what, response).await?)),
            Answer::Refused(_) => Ok(Put::FolderMissing),
        }
    }

    pub async fn create_link(&self, mount: &str, path: &str) -> Result<Link> {
        let what = format!("creating a link to {path} on Koofr");
        let url = self.api(&format!("mounts/{mount}/links"));
        let body = LinkCreate { path };
        let response = self
            .plain(&what, || self.session.http.post(&url).json(&body))
            .await?;
        http::json(&what, response).await
    }
}

/// `/a/b` from path segments; `/` for none.
pub fn path_of<S: AsRef<str>>(segments: &[S]) -> String {
    let mut path = String::new();
    for segment in segments {
        path.push('/');
        path.push_str(segment.as_ref());
    }
    if path.is_empty() {
        path.push('/');
    }
    path
}

/// `dir/name`, with `/` as the root.
pub fn child(dir: &str, name: &str) -> String {
    if dir == "/" || dir.is_empty() {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join() {
        assert_eq!(path_of::<&str>(&[]), "/");
        assert_eq!(path_of(&["Photo Transfer", "Été"]), "/Photo Transfer/Été");
        assert_eq!(child("/", "a.jpg"), "/a.jpg");
        assert_eq!(child("/x/y", "a.jpg"), "/x/y/a.jpg");
    }

    #[test]
    fn file_info_reads_the_documented_shape() {
        let info: FileInfo = serde_json::from_str(
            r#"{"name":"image.jpg","type":"file","modified":1591868314156,"size":5,
                "contentType":"image/jpeg","hash":"d05374dc381d9b52806446a71c8e79b1","tags":{}}"#,
        )
        .unwrap();
        assert_eq!(info.size, 5);
        assert!(!info.is_dir());
        assert_eq!(
            info.hash.as_deref(),
            Some("d05374dc381d9b52806446a71c8e79b1")
        );
    }
}
