//! Dropbox's `content_hash`: the SHA-256 of the concatenated SHA-256 digests of each 4 MiB
//! block of a file (https://www.dropbox.com/developers/reference/content-hash). Computed while
//! the bytes stream past, so that what Dropbox reports can be checked without reading the file
//! back.

use sha2::{Digest, Sha256};

/// Dropbox hashes files in blocks of this many bytes.
pub const BLOCK_SIZE: usize = 4 * 1024 * 1024;

/// An incremental `content_hash`.
#[derive(Clone, Default)]
pub struct ContentHasher {
    /// The digests of the blocks completed so far.
    overall: Sha256,
    /// The block being filled.
    block: Sha256,
    in_block: usize,
}

impl ContentHasher {
    pub fn new() -> ContentHasher {
        ContentHasher::default()
    }

    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let room = BLOCK_SIZE - self.in_block;
            let take = room.min(data.len());
            self.block.update(&data[..take]);
            self.in_block += take;
            data = &data[take..];
            if self.in_block == BLOCK_SIZE {
                self.close_block();
            }
        }
    }

    fn close_block(&mut self) {
        let block = std::mem::take(&mut self.block).finalize();
        self.overall.update(block);
        self.in_block = 0;
    }

    /// The hash as Dropbox writes it: 64 lowercase hex digits. An empty file has no blocks, so
    /// its hash is the SHA-256 of nothing.
    pub fn finish(mut self) -> String {
        if self.in_block > 0 {
            self.close_block();
        }
        hex::encode(self.overall.finalize())
    }
}

/// The `content_hash` of bytes held in memory.
pub fn content_hash(data: &[u8]) -> String {
    let mut hasher = ContentHasher::new();
    hasher.update(data);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a_times(n: usize) -> Vec<u8> {
        vec![b'A'; n]
    }

    /// The vectors of rclone's `dbhash_test.go` (N bytes of 'A').
    #[test]
    fn matches_the_published_vectors() {
        let vectors = [
            (
                0,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                1,
                "1cd6ef71e6e0ff46ad2609d403dc3fee244417089aa4461245a4e4fe23a55e42",
            ),
            (
                4_194_304,
                "d4d63bac5b866c71620185392a8a6218ac1092454a2d16f820363b69852befa3",
            ),
            (
                4_194_305,
                "8f553da8d00d0bf509d8470e242888be33019c20c0544811f5b2b89e98360b92",
            ),
            (
                8_388_608,
                "e08b3ba1f538804075c5f939accdeaa9efc7b5c01865c94a41e78ca6550a88e7",
            ),
        ];
        for (n, want) in vectors {
            assert_eq!(content_hash(&a_times(n)), want, "{n} bytes of 'A'");
        }
    }

    #[test]
    fn does_not_depend_on_how_the_bytes_are_cut() {
        let data: Vec<u8> = (0..9_711_423u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = content_hash(&data);
        for piece in [7usize, 65_536, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 3] {
            let mut hasher = ContentHasher::new();
            for chunk in data.chunks(piece) {
                hasher.update(chunk);
            }
            assert_eq!(hasher.finish(), whole, "pieces of {piece} bytes");
        }
    }
}
