//! The state every emulator shares: the seeded world, its credentials, the stored blobs, each
//! service's own state, faults, counters and the clock.

use std::sync::{Arc, Mutex};

use crate::faults::Faults;
use crate::inspect::Stats;
use crate::oauth::OAuth;
use crate::seed::World;
use crate::store::BlobStore;
use crate::util::{Clock, Rng};
use crate::{Credentials, SandboxOptions};

/// Everything the emulators share.
pub struct AppState {
    pub opts: SandboxOptions,
    pub base_url: String,
    pub clock: Clock,
    pub rng: Mutex<Rng>,
    pub faults: Faults,
    pub stats: Stats,
    pub oauth: OAuth,
    pub blobs: Arc<BlobStore>,
    pub world: World,
    pub credentials: Credentials,
    pub dropbox: crate::dropbox::DropboxState,
    pub google: crate::google_photos::GoogleState,
    pub koofr: crate::koofr::KoofrState,
    /// Key for the signatures of expiring media URLs.
    pub url_key: [u8; 32],
    /// Facebook objects deleted through the inspection API (answered as Graph 100/33).
    pub fb_deleted: Mutex<std::collections::HashSet<String>>,
    /// (size, SHA-256) of seeded photo originals, filled on first inspection.
    pub fb_digests: Mutex<std::collections::HashMap<usize, (usize, String)>>,
}

impl AppState {
    pub async fn new(opts: SandboxOptions, base_url: String) -> anyhow::Result<AppState> {
        let blobs = Arc::new(BlobStore::new(opts.state_dir.clone()).await?);
        let world = World::generate(&opts);
        let clock = Clock::default();
        let mut rng = Rng::new(opts.seed ^ 0x5a5a_5a5a_0000_0001);
        let oauth = OAuth::default();
        let credentials = crate::oauth::register_seeded(&oauth, &world, &opts, &clock, &mut rng);
        let mut url_key = [0u8; 32];
        for chunk in url_key.chunks_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        Ok(AppState {
            faults: Faults::new(opts.seed, opts.initial_faults()),
            stats: Stats::default(),
            rng: Mutex::new(rng),
            oauth,
            blobs,
            credentials,
            dropbox: Default::default(),
            google: Default::default(),
            koofr: Default::default(),
            url_key,
            fb_deleted: Mutex::default(),
            fb_digests: Mutex::default(),
            world,
            clock,
            base_url,
            opts,
        })
    }

    /// A fresh random token of `n` URL-safe characters (deterministic from the seed).
    pub fn token(&self, n: usize) -> String {
        self.rng.lock().unwrap().alnum(n)
    }

    pub fn next_u64(&self) -> u64 {
        self.rng.lock().unwrap().next_u64()
    }

    /// Hex signature binding a media URL path to its expiry time.
    pub fn sign(&self, what: &str, expires: i64) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(self.url_key);
        h.update(what.as_bytes());
        h.update(expires.to_le_bytes());
        hex::encode(&h.finalize()[..12])
    }
}
