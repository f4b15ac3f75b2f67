//! Recordings in S3 under SSE-KMS (moto on loopback), and the outbox when S3 is unreachable.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::time::timeout;
use voicegate::config::RecordingsSettings;
use voicegate::recording::recorder::{Stores, retry_outbox};
use voicegate::storage::Db;
use voicegate::storage::s3::{S3Settings, S3Store};

use crate::helpers::*;
use crate::recording::assert_manifest_valid;

const KMS_ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// moto's URL, or None with a printed reason off CI (CI always provides it).
fn moto() -> Option<String> {
    match std::env::var("VOICEGATE_TEST_S3") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!("CI must provide moto: VOICEGATE_TEST_S3 is not set"),
        _ => {
            eprintln!("SKIPPED (S3): VOICEGATE_TEST_S3 is not set; `.ci/run` shows how to start moto");
            None
        }
    }
}

/// Settings for a new bucket at `endpoint`, created on moto (reached at `moto_url`).
async fn bucket(moto_url: &str, endpoint: &str) -> S3Settings {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).unwrap();
    let mut s = S3Settings::new(format!("vg-rec-{}", voicegate::config::hex(&id)), "us-east-1", KMS_ARN);
    s.force_path_style = true;
    s.access_key_id = Some("testing".to_owned().into());
    s.secret_access_key = Some("testing".to_owned().into());
    s.endpoint = Some(moto_url.to_owned());
    S3Store::connect(&s)
        .unwrap()
        .create_bucket_for_tests(false)
        .await
        .unwrap();
    s.endpoint = Some(endpoint.to_owned());
    s
}

async fn recording_key(db: &Db, call_sid: &str) -> Option<String> {
    let rows = voicegate::storage::calls::find_by_call_sid(db, call_sid).await.unwrap();
    rows.into_iter().find_map(|r| r.recording_location)
}

async fn finished_call(app: &TestApp, n: u32) {
    let mut caller = app.twilio_call(&call_sid(n)).await;
    let mut fake = timeout(GUARD, app.fake.next_session()).await.unwrap().unwrap();
    fake.wait_for("session.update").await.unwrap();
    caller.send_audio_fast(&pattern(4, 200), 0).await.unwrap();
    caller.send_stop().await.unwrap();
    timeout(GUARD, fake.closed()).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_call_recording_lands_in_s3_under_the_configured_kms_key() {
    let Some(moto_url) = moto() else { return };
    let s3 = bucket(&moto_url, &moto_url).await;
    let app = spawn_app_with(Options::default(), |s| {
        s.recordings = RecordingsSettings::S3(s3.clone())
    })
    .await;
    finished_call(&app, 1).await;
    let key = timeout(GUARD, async {
        loop {
            if let Some(k) = recording_key(&app.state.deps.db, &call_sid(1)).await {
                return k;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("recording stored");
    let store = S3Store::connect(&s3).unwrap();
    let (sse, kms) = store.head_encryption(&key).await.unwrap();
    assert_eq!(sse.as_deref(), Some("aws:kms"));
    assert_eq!(kms.as_deref(), Some(KMS_ARN));
    let manifest_key = key.replace(".wav", ".manifest.json");
    let (sse, kms) = store.head_encryption(&manifest_key).await.unwrap();
    assert_eq!(
        (sse.as_deref(), kms.as_deref()),
        (Some("aws:kms"), Some(KMS_ARN)),
        "the manifest too"
    );
    let wav = store.get(&key).await.unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&store.get(&manifest_key).await.unwrap()).unwrap();
    assert_manifest_valid(&manifest);
    assert_eq!(manifest["storage"]["store"], "s3_kms");
    assert_eq!(manifest["storage"]["key_id"], KMS_ARN);
    use sha2::Digest;
    assert_eq!(
        manifest["audio"]["sha256"],
        voicegate::config::hex(&sha2::Sha256::digest(&wav)),
        "downloaded WAV matches"
    );
    assert_eq!(
        hound::WavReader::new(std::io::Cursor::new(wav))
            .unwrap()
            .spec()
            .channels,
        2
    );
}

/// A TCP proxy that can be cut (S3 unreachable) and restored.
struct Cuttable {
    up: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Cuttable {
    async fn start(target: &str) -> (Cuttable, String) {
        let target = url::Url::parse(target).unwrap();
        let target = format!("{}:{}", target.host_str().unwrap(), target.port().unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let up = Arc::new(AtomicBool::new(true));
        let live = Arc::new(Mutex::new(Vec::new()));
        let (up2, live2) = (up.clone(), live.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                live2.lock().await.push(tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        (Cuttable { up, live }, url)
    }

    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.live.lock().await.drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn s3_down_at_hang_up_parks_the_recording_then_uploads_it_intact() {
    let Some(moto_url) = moto() else { return };
    let (proxy, proxy_url) = Cuttable::start(&moto_url).await;
    let s3 = bucket(&moto_url, &proxy_url).await;
    let app = spawn_app_with(Options::default(), |s| {
        s.recordings = RecordingsSettings::S3(s3.clone())
    })
    .await;
    proxy.cut().await;
    finished_call(&app, 2).await;
    let stores = Stores {
        local: app.state.deps.local_blobs.clone(),
        store: app.state.deps.blobs.clone(),
    };
    // The upload fails after its retries and the recording waits in the local outbox.
    timeout(GUARD, async {
        while stores.local.list("recordings/outbox/").await.unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("recording parked in the outbox");
    assert!(
        recording_key(&app.state.deps.db, &call_sid(2)).await.is_none(),
        "not claimed as stored"
    );
    proxy.restore();
    let stored = retry_outbox(&stores).await.unwrap();
    assert_eq!(stored.len(), 1, "uploaded once S3 is back");
    assert!(!stored[0].incomplete);
    assert!(
        stores.local.list("recordings/outbox/").await.unwrap().is_empty(),
        "outbox emptied"
    );
    assert!(
        stores.local.list("recordings/spool/").await.unwrap().is_empty(),
        "spool removed after upload"
    );
    let direct = S3Store::connect(&S3Settings {
        endpoint: Some(moto_url.clone()),
        ..s3.clone()
    })
    .unwrap();
    let wav = direct.get(&stored[0].wav_key).await.unwrap();
    use sha2::Digest;
    assert_eq!(
        voicegate::config::hex(&sha2::Sha256::digest(&wav)),
        stored[0].wav_sha256,
        "byte-identical"
    );
    let (sse, _) = direct.head_encryption(&stored[0].wav_key).await.unwrap();
    assert_eq!(sse.as_deref(), Some("aws:kms"));
    // Every sample the caller sent is in the uploaded recording.
    let reader = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
    assert!(reader.duration() >= 200 * 160, "the whole call was kept");
}

/// Review on S3: playback is a presigned URL (at most 5 minutes) that serves the decrypted WAV;
/// a legal hold placed through the review API is an Object Lock legal hold on S3 (a delete is
/// refused by the bucket itself); retention deletes the other call's objects and skips the held one.
#[tokio::test]
async fn review_on_s3_presigns_playback_holds_with_object_lock_and_retention_skips_the_hold() {
    use serde_json::json;
    let Some(moto_url) = moto() else { return };
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).unwrap();
    let mut s3 = S3Settings::new(
        format!("vg-review-{}", voicegate::config::hex(&id)),
        "us-east-1",
        KMS_ARN,
    );
    s3.force_path_style = true;
    s3.access_key_id = Some("testing".to_owned().into());
    s3.secret_access_key = Some("testing".to_owned().into());
    s3.endpoint = Some(moto_url.clone());
    S3Store::connect(&s3)
        .unwrap()
        .create_bucket_for_tests(true)
        .await
        .unwrap();
    let app = spawn_app_with(Options::default(), |s| {
        s.recordings = RecordingsSettings::S3(s3.clone())
    })
    .await;
    let held = crate::review::finished_call(&app, 40).await;
    let expired = crate::review::finished_call(&app, 41).await;
    crate::review::add_staff(&app, "ada.admin", voicegate::review::Role::Admin).await;
    let admin = crate::review::Staff::login(&app, "ada.admin").await;

    let play = admin
        .post(
            &format!("/review/api/calls/{held}/playback"),
            json!({"reason": "complaint"}),
        )
        .await;
    assert_eq!(play.status, 200, "{}", play.body);
    let play: serde_json::Value = serde_json::from_str(&play.body).unwrap();
    let url = url::Url::parse(play["url"].as_str().unwrap()).unwrap();
    assert!(url.as_str().starts_with(&moto_url), "{url}");
    let expires: u64 = url
        .query_pairs()
        .find(|(k, _)| k == "X-Amz-Expires")
        .map(|(_, v)| v.parse().unwrap())
        .expect("a presigned URL");
    assert!(expires <= 300, "at most five minutes: {expires}");
    let base = format!("{}://{}", url.scheme(), url.authority());
    let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
    let wav = voicegate::testkit::webhook::request(&base, "GET", &path, &[], "")
        .await
        .unwrap();
    assert_eq!(wav.status, 200);
    assert!(
        wav.body.starts_with("RIFF"),
        "S3 serves the recording, decrypted by KMS"
    );

    let hold = admin
        .post(
            &format!("/review/api/calls/{held}/legal-hold"),
            json!({"hold": true, "reason": "litigation"}),
        )
        .await;
    assert_eq!(hold.status, 204, "{}", hold.body);
    let deps = &app.state.deps;
    let key = |id: String| async move {
        voicegate::storage::calls::get(&deps.db, &id)
            .await
            .unwrap()
            .unwrap()
            .recording_location
            .unwrap()
    };
    let (held_key, expired_key) = (key(held.clone()).await, key(expired.clone()).await);
    let refused = deps.blobs.delete(&held_key).await.unwrap_err();
    assert!(
        matches!(refused, voicegate::storage::blob::BlobError::Locked(_)),
        "{refused:?}"
    );

    let later = deps.clock.now_unix_ms() + 3 * 86_400_000;
    let report = voicegate::review::retention::run(&deps.db, &deps.blobs, &deps.audit, 1, later)
        .await
        .unwrap();
    assert_eq!(report.deleted, std::slice::from_ref(&expired));
    assert_eq!(report.held, std::slice::from_ref(&held));
    assert!(deps.blobs.get(&expired_key).await.is_err());
    assert!(deps.blobs.get(&held_key).await.is_ok());
}
