//! The content-addressed store on the filesystem backend (and the core's memory backend):
//! deduplication, integrity on read, crash safety of writes, index rebuild, LRU eviction.

use std::fs;

use stt_cli::storage::FsBackend;
use stt_proto::storage::{sealed_len, Address, MemoryBackend, Store, StoreError};

const SEED: &[u8] = b"storage seed of this node, 32 b!";

#[test]
fn same_content_twice_is_one_blob_at_one_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::new(FsBackend::open(dir.path()).unwrap(), SEED);
    let a = store.put(b"hello, store").unwrap();
    let b = store.put(b"hello, store").unwrap();
    assert_eq!(a, b);
    assert_eq!(a, Address::of(b"hello, store"));
    assert_eq!(store.list(), vec![a]);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    assert_eq!(store.get(&a).unwrap().unwrap(), b"hello, store");
    // At rest the content is sealed, not in the clear.
    let on_disk = fs::read(dir.path().join(a.to_string())).unwrap();
    assert_eq!(on_disk.len() as u64, sealed_len(12));
    assert!(!on_disk.windows(5).any(|w| w == b"hello"));
    assert!(store.delete(&a).unwrap());
    assert!(!store.contains(&a));
    assert_eq!(store.get(&a).unwrap(), None);
}

#[test]
fn a_flipped_bit_on_disk_is_an_integrity_error_not_wrong_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::new(FsBackend::open(dir.path()).unwrap(), SEED);
    let a = store.put(&vec![7u8; 10_000]).unwrap();
    let path = dir.path().join(a.to_string());
    let mut blob = fs::read(&path).unwrap();
    blob[5_000] ^= 0x10;
    fs::write(&path, &blob).unwrap();
    match store.get(&a) {
        Err(e @ StoreError::Integrity(addr)) => {
            assert_eq!(addr, a);
            assert!(e.to_string().contains("integrity"), "{e}");
        }
        other => panic!("expected an integrity error, got {other:?}"),
    }
    // Another store key cannot read it either.
    let mut other = Store::new(FsBackend::open(dir.path()).unwrap(), b"another seed, also 32 bytes long");
    blob[5_000] ^= 0x10;
    fs::write(&path, &blob).unwrap();
    assert!(matches!(other.get(&a), Err(StoreError::Integrity(_))));
    assert_eq!(store.get(&a).unwrap().unwrap(), vec![7u8; 10_000]);
}

#[test]
fn a_writer_killed_mid_write_leaves_no_partial_blob_and_the_index_rebuilds() {
    let dir = tempfile::tempdir().unwrap();
    let kept;
    {
        let mut store = Store::new(FsBackend::open(dir.path()).unwrap(), SEED);
        kept = store.put(b"written whole").unwrap();
        // Simulate a crash mid-write: a sealed blob's temporary file, truncated, never renamed.
        let victim = Address::of(b"never finished");
        let full = stt_proto::storage::seal_blob(&stt_proto::storage::storage_key(SEED), &victim, b"never finished");
        fs::write(dir.path().join(format!(".tmp-{victim}-1-1")), &full[..full.len() / 2]).unwrap();
    }
    let mut store = Store::new(FsBackend::open(dir.path()).unwrap(), SEED);
    assert_eq!(store.list(), vec![kept], "the rebuilt index holds only the whole blob");
    assert!(!store.contains(&Address::of(b"never finished")));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "the temporary file was removed");
    assert_eq!(store.get(&kept).unwrap().unwrap(), b"written whole");
}

#[test]
fn eviction_keeps_the_store_under_its_limit_least_recently_used_first() {
    let dir = tempfile::tempdir().unwrap();
    let blob = sealed_len(1_000);
    let mut store = Store::new(FsBackend::open_with_limit(dir.path(), Some(3 * blob)).unwrap(), SEED);
    let contents: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 1_000]).collect();
    let a0 = store.put(&contents[0]).unwrap();
    let a1 = store.put(&contents[1]).unwrap();
    let a2 = store.put(&contents[2]).unwrap();
    store.get(&a0).unwrap(); // a0 is now more recent than a1
    let a3 = store.put(&contents[3]).unwrap();
    assert!(store.backend().total_size() <= 3 * blob);
    assert!(!store.contains(&a1), "the least recently used blob went first");
    assert!(store.contains(&a0) && store.contains(&a2) && store.contains(&a3));
    for c in &contents {
        store.put(c).unwrap();
        assert!(store.backend().total_size() <= 3 * blob);
    }
    assert_eq!(store.list().len(), 3);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3);
    // A blob larger than the whole limit is refused, not half-stored.
    assert!(matches!(store.put(&vec![9; 4_000]), Err(StoreError::Backend(_))));
}

#[test]
fn the_memory_backend_detects_damage_too() {
    let mut store = Store::new(MemoryBackend::new(), SEED);
    let a = store.put(b"in memory").unwrap();
    store.backend_mut().blob_mut(&a).unwrap()[13] ^= 1;
    assert!(matches!(store.get(&a), Err(StoreError::Integrity(_))));
    assert_eq!(store.get(&Address::of(b"absent")).unwrap(), None);
}
