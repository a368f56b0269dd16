//! A sandbox started by the test, with a data folder and a ferry.toml pointing at it, and
//! what the emulated services hold.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;

use ferry_sandbox::{Sandbox, SandboxOptions};
use tokio::process::Command;

pub struct Env {
    pub sb: Sandbox,
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub config: PathBuf,
    /// A PostgreSQL journal every command uses (`FERRY_DATABASE_URL`), instead of SQLite.
    pub database: Option<String>,
}

impl Env {
    pub async fn new(options: SandboxOptions) -> Env {
        let sb = ferry_sandbox::start(options).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let config = dir.path().join("ferry.toml");
        std::fs::write(&config, sb.ferry_toml()).unwrap();
        Env {
            sb,
            dir,
            data,
            config,
            database: None,
        }
    }

    /// The same, with the journal in a fresh PostgreSQL database.
    pub async fn with_database(options: SandboxOptions) -> Env {
        let mut env = Env::new(options).await;
        env.database = Some(ferry_testkit::postgres::fresh_database().await);
        env
    }

    pub fn ferry(&self) -> Command {
        let mut cmd = Command::from(super::ferry(&self.data));
        cmd.env("FERRY_CONFIG", &self.config)
            .env_remove("FERRY_MASTER_KEY")
            .env_remove("FERRY_DATABASE_URL")
            .kill_on_drop(true);
        if let Some(url) = &self.database {
            cmd.env("FERRY_DATABASE_URL", url);
        }
        cmd
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        self.ferry().args(args).output().await.unwrap()
    }

    pub async fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "ferry {args:?} failed: {}{}",
            super::stdout(&out),
            super::stderr(&out)
        );
        out
    }

    /// Connects every service with the sandbox's ready-made credentials, as a script would.
    pub async fn connect_all(&self) {
        let c = self.sb.credentials();
        self.ok(&[
            "connect",
            "facebook",
            "--name",
            "fb",
            "--token",
            &c.facebook.access_token,
        ])
        .await;
        self.ok(&[
            "connect",
            "dropbox",
            "--name",
            "dbx",
            "--token",
            &c.dropbox.access_token,
            "--refresh-token",
            c.dropbox.refresh_token.as_deref().unwrap(),
        ])
        .await;
        self.ok(&[
            "connect",
            "google-photos",
            "--name",
            "gp",
            "--token",
            &c.google_photos.access_token,
            "--refresh-token",
            c.google_photos.refresh_token.as_deref().unwrap(),
        ])
        .await;
        self.ok(&[
            "connect",
            "koofr",
            "--name",
            "koofr",
            "--user",
            &c.koofr.email,
            "--app-password",
            &c.koofr.app_password,
        ])
        .await;
        self.ok(&[
            "connect",
            "webdav",
            "--name",
            "dav",
            "--url",
            &self.sb.urls().koofr.webdav_url,
            "--user",
            &c.koofr.email,
            "--password",
            &c.koofr.app_password,
        ])
        .await;
    }

    /// The seeded Facebook originals: SHA-256 → how many.
    pub async fn originals(&self) -> BTreeMap<String, usize> {
        let source: serde_json::Value =
            reqwest::get(format!("{}/_sandbox/source", self.sb.base_url()))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        let mut out = BTreeMap::new();
        for kind in ["photos", "videos"] {
            for item in source["facebook"][kind].as_array().unwrap() {
                let sha = item["sha256"]
                    .as_str()
                    .expect("originals up to 256 MiB are hashed");
                *out.entry(sha.to_string()).or_default() += 1;
            }
        }
        out
    }

    /// What a destination holds: SHA-256 → how many, from the inspection API.
    pub fn landed(&self, service: &str) -> BTreeMap<String, usize> {
        let state = self.sb.state();
        let files: Vec<&serde_json::Value> = match service {
            "dropbox" => state["dropbox"]["entries"]
                .as_array()
                .unwrap()
                .iter()
                .collect(),
            "koofr" => state["koofr"]["files"].as_array().unwrap().iter().collect(),
            "google_photos" => state["google_photos"]["media_items"]
                .as_array()
                .unwrap()
                .iter()
                .collect(),
            other => panic!("{other}"),
        };
        let mut out = BTreeMap::new();
        for f in files {
            if f.get("type").is_some_and(|t| t != "file") {
                continue;
            }
            let path = f["path_display"]
                .as_str()
                .or(f["path"].as_str())
                .unwrap_or_default();
            if path
                .rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with(".ferry-"))
            {
                continue;
            }
            *out.entry(f["sha256"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        out
    }
}
