//! End to end: `feedmixer publish` and `unpublish` (the real binary) against
//! a PDS stand-in on 127.0.0.1 that checks every call the way a PDS would
//! (the session's password, a bearer token on every write, the repository
//! being the signed-in account's, the collection, the record key, the
//! record's shape and limits) and keeps the records in memory.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use feedmixer_identity::testkit::{Directory, TestKey, did_doc, plc_did};
use serde_json::{Value, json};
use unicode_segmentation::UnicodeSegmentation;

const COLLECTION: &str = "app.bsky.feed.generator";
/// The shipped config's service DID: every record's `did`.
const SERVICE_DID: &str = "did:web:localhost";
const HANDLE: &str = "publisher.test";
const PASSWORD: &str = "pw-abcd-efgh-ijkl-mnop";
/// The shipped feeds, in the order publish goes through them.
const FEEDS: [&str; 8] = [
    "curated",
    "discover",
    "for-you",
    "for-you-norsk",
    "norsk",
    "rust",
    "trending",
    "trending-day",
];
/// The smallest PNG: one transparent pixel.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\x0dIDAT\x78\x9c\x63\xd0\xca\xbf\xf0\x1f\x00\x04\x99\x02\x69\x92\xcb\x39\xe2\x00\x00\x00\x00IEND\xae\x42\x60\x82";

// ---------------------------------------------------------------- the PDS

#[derive(Default)]
struct Repo {
    /// rkey -> (cid, record)
    records: BTreeMap<String, (String, Value)>,
    /// cid -> (mime type, bytes)
    blobs: HashMap<String, (String, Vec<u8>)>,
    tokens: HashSet<String>,
    /// Every call, as its method name.
    calls: Vec<&'static str>,
    /// What a real PDS would have refused, as it was refused here.
    problems: Vec<String>,
    next: u64,
}

struct Account {
    did: String,
    handle: String,
    password: String,
    repo: Mutex<Repo>,
}

/// A PDS holding one account.
struct Pds {
    addr: SocketAddr,
    account: Arc<Account>,
}

impl Pds {
    async fn start(did: &str) -> Pds {
        let account = Arc::new(Account {
            did: did.to_owned(),
            handle: HANDLE.to_owned(),
            password: PASSWORD.to_owned(),
            repo: Mutex::new(Repo::default()),
        });
        let app = Router::new()
            .route(
                "/xrpc/com.atproto.server.createSession",
                post(create_session),
            )
            .route("/xrpc/com.atproto.repo.getRecord", get(get_record))
            .route("/xrpc/com.atproto.repo.uploadBlob", post(upload_blob))
            .route("/xrpc/com.atproto.repo.putRecord", post(put_record))
            .route("/xrpc/com.atproto.repo.deleteRecord", post(delete_record))
            .fallback(|| async {
                xrpc_error(
                    StatusCode::NOT_IMPLEMENTED,
                    "MethodNotImplemented",
                    "not a method this PDS knows",
                )
            })
            .with_state(account.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Pds { addr, account }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn repo(&self) -> std::sync::MutexGuard<'_, Repo> {
        self.account.repo.lock().unwrap()
    }

    fn records(&self) -> BTreeMap<String, Value> {
        let repo = self.repo();
        repo.records
            .iter()
            .map(|(rkey, (_, value))| (rkey.clone(), value.clone()))
            .collect()
    }

    fn calls(&self) -> Vec<&'static str> {
        self.repo().calls.clone()
    }

    fn count(&self, method: &str) -> usize {
        self.repo()
            .calls
            .iter()
            .filter(|c| c.ends_with(method))
            .count()
    }

    fn assert_no_problems(&self) {
        let problems = self.repo().problems.clone();
        assert!(problems.is_empty(), "the PDS refused: {problems:#?}");
    }
}

fn xrpc_error(status: StatusCode, error: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "message": message})),
    )
        .into_response()
}

/// Records `problem` and refuses the call with it.
fn refuse(repo: &mut Repo, status: StatusCode, error: &str, problem: String) -> Response {
    let response = xrpc_error(status, error, &problem);
    repo.problems.push(problem);
    response
}

/// The refusal of a call without the bearer token of a session of this PDS.
fn unauthorized(repo: &mut Repo, headers: &HeaderMap, method: &str) -> Option<Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token {
        Some(token) if repo.tokens.contains(token) => None,
        _ => Some(refuse(
            repo,
            StatusCode::UNAUTHORIZED,
            "AuthenticationRequired",
            format!("{method}: no valid bearer token"),
        )),
    }
}

fn is_record_key(rkey: &str) -> bool {
    (1..=512).contains(&rkey.len())
        && rkey != "."
        && rkey != ".."
        && rkey
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~:-".contains(&b))
}

async fn create_session(State(account): State<Arc<Account>>, body: Bytes) -> Response {
    let mut repo = account.repo.lock().unwrap();
    repo.calls.push("com.atproto.server.createSession");
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return refuse(
            &mut repo,
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "createSession: body is not JSON".into(),
        );
    };
    let identifier = body["identifier"].as_str().unwrap_or_default();
    let password = body["password"].as_str().unwrap_or_default();
    let known = identifier == account.did || identifier == account.handle;
    if !known || password != account.password {
        // Deliberately careless: the message repeats the password it got,
        // which the binary must never print.
        return xrpc_error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationRequired",
            &format!("Invalid identifier or password ({identifier:?}, {password:?})"),
        );
    }
    repo.next += 1;
    let token = format!("access-{}-{}", repo.next, account.did);
    repo.tokens.insert(token.clone());
    axum::Json(json!({
        "accessJwt": token,
        "refreshJwt": format!("refresh-{}", repo.next),
        "did": account.did,
        "handle": account.handle,
        "active": true,
    }))
    .into_response()
}

async fn get_record(
    State(account): State<Arc<Account>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut repo = account.repo.lock().unwrap();
    repo.calls.push("com.atproto.repo.getRecord");
    let (r, c, k) = (
        query.get("repo").map(String::as_str),
        query.get("collection").map(String::as_str),
        query.get("rkey").map(String::as_str),
    );
    let (Some(r), Some(c), Some(rkey)) = (r, c, k) else {
        return refuse(
            &mut repo,
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            format!("getRecord: repo, collection and rkey are required: {query:?}"),
        );
    };
    if r != account.did || c != COLLECTION {
        return refuse(
            &mut repo,
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            format!("getRecord: asked for {r}/{c}"),
        );
    }
    match repo.records.get(rkey) {
        Some((cid, value)) => axum::Json(json!({
            "uri": format!("at://{r}/{c}/{rkey}"),
            "cid": cid,
            "value": value,
        }))
        .into_response(),
        None => xrpc_error(
            StatusCode::BAD_REQUEST,
            "RecordNotFound",
            &format!("Could not locate record: at://{r}/{c}/{rkey}"),
        ),
    }
}

async fn upload_blob(
    State(account): State<Arc<Account>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut repo = account.repo.lock().unwrap();
    repo.calls.push("com.atproto.repo.uploadBlob");
    if let Some(refused) = unauthorized(&mut repo, &headers, "uploadBlob") {
        return refused;
    }
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !matches!(mime.as_str(), "image/png" | "image/jpeg") || body.is_empty() {
        return refuse(
            &mut repo,
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            format!("uploadBlob: {} bytes of {mime:?}", body.len()),
        );
    }
    // Content-addressed, like a real PDS (though not a real CID: the
    // binary must use what it is answered, not compute its own).
    let mut hasher = std::hash::DefaultHasher::new();
    body.hash(&mut hasher);
    let cid = format!("bafkreistandin{:016x}", hasher.finish());
    let size = body.len();
    repo.blobs
        .insert(cid.clone(), (mime.clone(), body.to_vec()));
    axum::Json(json!({"blob": {
        "$type": "blob",
        "ref": {"$link": cid},
        "mimeType": mime,
        "size": size,
    }}))
    .into_response()
}

/// What a PDS validating `app.bsky.feed.generator` refuses in `record`.
fn record_problems(repo: &Repo, record: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(fields) = record.as_object() else {
        return vec!["the record is not an object".into()];
    };
    let known = [
        "$type",
        "did",
        "displayName",
        "description",
        "avatar",
        "acceptsInteractions",
        "createdAt",
    ];
    for key in fields.keys() {
        if !known.contains(&key.as_str()) {
            problems.push(format!("unexpected field {key:?}"));
        }
    }
    if record["$type"] != COLLECTION {
        problems.push(format!("$type is {}", record["$type"]));
    }
    if record["did"] != SERVICE_DID {
        problems.push(format!("did is {}", record["did"]));
    }
    let text = |field: &str, required: bool, graphemes: usize, bytes: usize| match &record[field] {
        Value::Null if !required => None,
        Value::String(s) if s.graphemes(true).count() <= graphemes && s.len() <= bytes => None,
        other => Some(format!("{field} is {other}")),
    };
    problems.extend(text("displayName", true, 24, 240));
    problems.extend(text("description", false, 300, 3000));
    let created = record["createdAt"].as_str().unwrap_or_default();
    let b = created.as_bytes();
    let datetime = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && created.ends_with('Z');
    if !datetime {
        problems.push(format!("createdAt is {:?}", record["createdAt"]));
    }
    if !matches!(record["acceptsInteractions"], Value::Null | Value::Bool(_)) {
        problems.push("acceptsInteractions is not a boolean".into());
    }
    if !record["avatar"].is_null() {
        let avatar = &record["avatar"];
        let cid = avatar["ref"]["$link"].as_str().unwrap_or_default();
        match repo.blobs.get(cid) {
            Some((mime, bytes))
                if avatar["$type"] == "blob"
                    && avatar["mimeType"] == mime.as_str()
                    && avatar["size"] == bytes.len() => {}
            _ => problems.push(format!("avatar {avatar} is not an uploaded blob")),
        }
    }
    problems
}

/// The body fields every write names, checked: `(rkey, swapRecord)`.
fn check_target(
    account: &Account,
    body: &Value,
    allowed: &[&str],
) -> Result<(String, Option<String>), String> {
    let fields = body.as_object().ok_or("the body is not an object")?;
    for key in fields.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(format!("unexpected field {key:?}"));
        }
    }
    if body["repo"] != account.did.as_str() {
        return Err(format!("repo is {}, not the session's", body["repo"]));
    }
    if body["collection"] != COLLECTION {
        return Err(format!("collection is {}", body["collection"]));
    }
    let rkey = body["rkey"].as_str().unwrap_or_default();
    if !is_record_key(rkey) {
        return Err(format!("rkey {:?} is not a record key", body["rkey"]));
    }
    let swap = match &body["swapRecord"] {
        Value::Null => None,
        Value::String(cid) => Some(cid.clone()),
        other => return Err(format!("swapRecord is {other}")),
    };
    Ok((rkey.to_owned(), swap))
}

async fn put_record(
    State(account): State<Arc<Account>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut repo = account.repo.lock().unwrap();
    repo.calls.push("com.atproto.repo.putRecord");
    if let Some(refused) = unauthorized(&mut repo, &headers, "putRecord") {
        return refused;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let allowed = [
        "repo",
        "collection",
        "rkey",
        "record",
        "validate",
        "swapRecord",
    ];
    let (rkey, swap) = match check_target(&account, &body, &allowed) {
        Ok(target) => target,
        Err(problem) => {
            return refuse(
                &mut repo,
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                format!("putRecord: {problem}"),
            );
        }
    };
    let problems = record_problems(&repo, &body["record"]);
    if !problems.is_empty() {
        return refuse(
            &mut repo,
            StatusCode::BAD_REQUEST,
            "InvalidRecord",
            format!("putRecord {rkey}: {}", problems.join("; ")),
        );
    }
    let current = repo.records.get(&rkey).map(|(cid, _)| cid.clone());
    if swap.is_some() && swap != current {
        return refuse(
            &mut repo,
            StatusCode::BAD_REQUEST,
            "InvalidSwap",
            format!("putRecord {rkey}: swapRecord {swap:?}, current {current:?}"),
        );
    }
    repo.next += 1;
    let cid = format!("bafyreirecord{}", repo.next);
    repo.records
        .insert(rkey.clone(), (cid.clone(), body["record"].clone()));
    axum::Json(json!({
        "uri": format!("at://{}/{COLLECTION}/{rkey}", account.did),
        "cid": cid,
    }))
    .into_response()
}

async fn delete_record(
    State(account): State<Arc<Account>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut repo = account.repo.lock().unwrap();
    repo.calls.push("com.atproto.repo.deleteRecord");
    if let Some(refused) = unauthorized(&mut repo, &headers, "deleteRecord") {
        return refused;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let allowed = ["repo", "collection", "rkey", "swapRecord", "swapCommit"];
    let (rkey, swap) = match check_target(&account, &body, &allowed) {
        Ok(target) => target,
        Err(problem) => {
            return refuse(
                &mut repo,
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                format!("deleteRecord: {problem}"),
            );
        }
    };
    let current = repo.records.get(&rkey).map(|(cid, _)| cid.clone());
    if swap.is_some() && swap != current {
        return refuse(
            &mut repo,
            StatusCode::BAD_REQUEST,
            "InvalidSwap",
            format!("deleteRecord {rkey}: swapRecord {swap:?}, current {current:?}"),
        );
    }
    repo.records.remove(&rkey);
    axum::Json(json!({})).into_response()
}

// ------------------------------------------------------------ the binary

/// A copy of the shipped `config/` and `flows/` whose `publisher_did` is
/// `publisher`; the binary runs in it with its default paths.
struct Setup {
    dir: tempfile::TempDir,
    publisher: String,
}

impl Setup {
    fn new(publisher: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        support::copy_dir(&support::root().join("config"), &dir.path().join("config"));
        support::copy_dir(&support::root().join("flows"), &dir.path().join("flows"));
        let setup = Setup {
            dir,
            publisher: publisher.to_owned(),
        };
        let config = std::fs::read_to_string(setup.path("config/feedmixer.toml")).unwrap();
        let line = config
            .lines()
            .find(|l| l.starts_with("publisher_did"))
            .expect("the shipped config names a publisher");
        setup.write(
            "config/feedmixer.toml",
            config.replace(line, &format!("publisher_did = {publisher:?}")),
        );
        setup
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn write(&self, relative: &str, text: impl AsRef<[u8]>) {
        std::fs::write(self.path(relative), text).unwrap();
    }

    /// Replaces `from` (which must be there) by `to` in the feeds file.
    fn edit_feeds(&self, from: &str, to: &str) {
        let path = self.path("config/feeds.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from:?} is not in the feeds file");
        std::fs::write(path, text.replacen(from, to, 1)).unwrap();
    }

    fn uri(&self, rkey: &str) -> String {
        format!("at://{}/{COLLECTION}/{rkey}", self.publisher)
    }
}

/// What a run printed.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn expect_ok(self) -> Run {
        assert!(self.ok, "failed:\n{}\n{}", self.stdout, self.stderr);
        self
    }

    fn expect_err(self) -> Run {
        assert!(!self.ok, "succeeded:\n{}\n{}", self.stdout, self.stderr);
        self
    }

    /// The record keys of the stdout lines starting with `verb`.
    fn feeds(&self, verb: &str) -> Vec<String> {
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix(verb)?.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    }
}

/// Credentials in the environment: `(identifier, password)`.
type Creds<'a> = Option<(&'a str, &'a str)>;

const GOOD: Creds<'static> = Some((HANDLE, PASSWORD));

/// Runs `feedmixer ARGS` in the setup's directory with only `creds` (and
/// `env`) set among feedmixer's variables.
async fn feedmixer(setup: &Setup, args: &[&str], creds: Creds<'_>, env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_feedmixer"));
    cmd.args(args)
        .current_dir(setup.dir.path())
        .env_remove("FEEDMIXER_PUBLISHER_IDENTIFIER")
        .env_remove("FEEDMIXER_PUBLISHER_PASSWORD")
        .env_remove("FEEDMIXER_PLC_URL")
        .env("RUST_LOG", "info");
    if let Some((identifier, password)) = creds {
        cmd.env("FEEDMIXER_PUBLISHER_IDENTIFIER", identifier)
            .env("FEEDMIXER_PUBLISHER_PASSWORD", password);
    }
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out: Output = tokio::task::spawn_blocking(move || cmd.output().expect("the binary runs"))
        .await
        .unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `feedmixer publish --pds-url PDS EXTRA...` with good credentials.
async fn publish(setup: &Setup, pds: &Pds, extra: &[&str]) -> Run {
    let url = pds.url();
    let mut args = vec!["publish", "--pds-url", &url];
    args.extend_from_slice(extra);
    feedmixer(setup, &args, GOOD, &[]).await
}

fn publisher() -> String {
    plc_did("publisher")
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn publishes_every_feed_then_only_what_changed() {
    let pds = Pds::start(&publisher()).await;
    let setup = Setup::new(&publisher());

    let run = publish(&setup, &pds, &[]).await.expect_ok();
    assert_eq!(run.feeds("created"), FEEDS, "{}", run.stdout);
    assert!(run.stdout.contains(&setup.uri("for-you")), "{}", run.stdout);
    let first = pds.records();
    assert_eq!(first.keys().collect::<Vec<_>>(), FEEDS);
    assert_eq!(
        first["for-you"],
        json!({
            "$type": COLLECTION,
            "did": SERVICE_DID,
            "displayName": "For You",
            "description": "Posts liked by people who like what you like.",
            // The for-you flow reads the viewer's sendInteractions history.
            "acceptsInteractions": true,
            "createdAt": first["for-you"]["createdAt"],
        })
    );
    for rkey in ["curated", "discover", "norsk", "trending", "trending-day"] {
        assert_eq!(first[rkey]["acceptsInteractions"], false, "{rkey}");
    }
    // Their flows drop what the viewer has seen (`not_seen`).
    for rkey in ["rust", "for-you-norsk"] {
        assert_eq!(first[rkey]["acceptsInteractions"], true, "{rkey}");
    }
    assert_eq!(first["trending-day"]["displayName"], "Trending today");
    pds.assert_no_problems();

    // Again: nothing to write.
    let puts = pds.count("putRecord");
    let run = publish(&setup, &pds, &[]).await.expect_ok();
    assert_eq!(run.feeds("unchanged"), FEEDS, "{}", run.stdout);
    assert_eq!(pds.count("putRecord"), puts);
    assert_eq!(pds.records(), first);

    // A new description: that record is rewritten, keeping its createdAt.
    setup.edit_feeds(
        "What gets the most likes right now.",
        "The most liked posts of the hour.",
    );
    std::thread::sleep(std::time::Duration::from_millis(5));
    let run = publish(&setup, &pds, &[]).await.expect_ok();
    assert_eq!(run.feeds("updated"), ["trending"], "{}", run.stdout);
    assert_eq!(
        run.feeds("unchanged").len(),
        FEEDS.len() - 1,
        "{}",
        run.stdout
    );
    assert_eq!(pds.count("putRecord"), puts + 1);
    let second = pds.records();
    assert_eq!(
        second["trending"]["description"],
        "The most liked posts of the hour."
    );
    assert_eq!(
        second["trending"]["createdAt"],
        first["trending"]["createdAt"]
    );
    for rkey in ["curated", "discover", "for-you", "trending-day"] {
        assert_eq!(second[rkey], first[rkey], "{rkey}");
    }
    pds.assert_no_problems();
}

#[tokio::test]
async fn feed_publishes_one_feed_only() {
    let pds = Pds::start(&publisher()).await;
    let setup = Setup::new(&publisher());

    let run = publish(&setup, &pds, &["--feed", "trending-day"])
        .await
        .expect_ok();
    assert_eq!(run.feeds("created"), ["trending-day"]);
    assert_eq!(pds.records().keys().collect::<Vec<_>>(), ["trending-day"]);
    assert_eq!(pds.count("getRecord"), 1);

    let calls = pds.calls().len();
    let run = publish(&setup, &pds, &["--feed", "nope"])
        .await
        .expect_err();
    assert!(
        run.stderr.contains("unknown feed \"nope\"") && run.stderr.contains("for-you"),
        "{}",
        run.stderr
    );
    assert_eq!(pds.calls().len(), calls, "nothing sent for an unknown feed");
    pds.assert_no_problems();
}

#[tokio::test]
async fn dry_run_prints_the_records_and_sends_nothing() {
    let pds = Pds::start(&publisher()).await;
    let setup = Setup::new(&publisher());
    setup.write("config/for-you.png", PNG);
    setup.edit_feeds(
        "display_name = \"For You\"",
        "display_name = \"For You\"\navatar = \"for-you.png\"",
    );

    // No credentials needed.
    let url = pds.url();
    let run = feedmixer(
        &setup,
        &["publish", "--dry-run", "--pds-url", &url],
        None,
        &[],
    )
    .await
    .expect_ok();
    let shown: Vec<Value> = serde_json::Deserializer::from_str(&run.stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .expect("a JSON document per feed");
    let rkeys: Vec<&str> = shown.iter().map(|s| s["rkey"].as_str().unwrap()).collect();
    assert_eq!(rkeys, FEEDS);
    for s in &shown {
        let rkey = s["rkey"].as_str().unwrap();
        assert_eq!(s["uri"], setup.uri(rkey));
        assert_eq!(s["record"]["$type"], COLLECTION);
        assert_eq!(s["record"]["did"], SERVICE_DID);
        assert!(s["record"]["createdAt"].is_string());
    }
    assert_eq!(shown[2]["record"]["displayName"], "For You");
    assert_eq!(shown[2]["record"]["acceptsInteractions"], true);
    // The avatar as it will be uploaded: its own CID, type and size.
    assert_eq!(
        shown[2]["record"]["avatar"],
        json!({
            "$type": "blob",
            "ref": {"$link": feedmixer_atproto::generator::raw_cid(PNG)},
            "mimeType": "image/png",
            "size": PNG.len(),
        })
    );
    assert!(run.stderr.contains("nothing sent"), "{}", run.stderr);
    assert!(pds.calls().is_empty(), "{:?}", pds.calls());
}

#[tokio::test]
async fn records_past_the_lexicon_limits_fail_before_anything_is_sent() {
    let pds = Pds::start(&publisher()).await;
    let setup = Setup::new(&publisher());
    setup.edit_feeds(
        "display_name = \"Discover\"",
        &format!("display_name = \"{}\"", "x".repeat(25)),
    );
    setup.edit_feeds(
        "description = \"Posts from a hand-picked pool, ranked for you.\"",
        &format!("description = \"{}\"", "d".repeat(301)),
    );
    // 24 graphemes of two code points each: within the limit.
    setup.edit_feeds(
        "display_name = \"Trending\"",
        &format!("display_name = \"{}\"", "e\u{301}".repeat(24)),
    );

    for extra in [&[][..], &["--dry-run"][..]] {
        let run = publish(&setup, &pds, extra).await.expect_err();
        assert!(
            run.stderr
                .contains("feed \"discover\": displayName: 25 graphemes, more than 24"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("feed \"curated\": description: 301 graphemes, more than 300"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("\"trending\""), "{}", run.stderr);
        assert!(run.stderr.contains("nothing was sent"), "{}", run.stderr);
        assert_eq!(run.stdout, "");
    }
    assert!(pds.calls().is_empty(), "{:?}", pds.calls());

    // Only the good feed: fine.
    publish(&setup, &pds, &["--feed", "trending"])
        .await
        .expect_ok();
    assert_eq!(
        pds.records()["trending"]["displayName"],
        "e\u{301}".repeat(24)
    );
    pds.assert_no_problems();
}

#[tokio::test]
async fn bad_credentials_fail_clearly_and_the_password_is_never_printed() {
    let pds = Pds::start(&publisher()).await;
    let setup = Setup::new(&publisher());
    let url = pds.url();
    let wrong = "wrong-pass-word-1234";
    // Trace logs too: nothing may print a password.
    let trace = [("RUST_LOG", "trace")];

    let run = feedmixer(
        &setup,
        &["publish", "--pds-url", &url],
        Some((HANDLE, wrong)),
        &trace,
    )
    .await
    .expect_err();
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(wrong), "the password was printed:\n{text}");
        assert!(!text.contains(PASSWORD));
    }
    assert!(
        run.stderr
            .contains("com.atproto.server.createSession answered HTTP 401")
            && run.stderr.contains("AuthenticationRequired")
            && run.stderr.contains("signing in to"),
        "{}",
        run.stderr
    );
    assert_eq!(pds.calls(), ["com.atproto.server.createSession"]);

    // The same for unpublish.
    let run = feedmixer(
        &setup,
        &["unpublish", "trending", "--pds-url", &url],
        Some((HANDLE, wrong)),
        &trace,
    )
    .await
    .expect_err();
    assert!(!run.stderr.contains(wrong) && !run.stdout.contains(wrong));
    assert!(
        run.stderr.contains("AuthenticationRequired"),
        "{}",
        run.stderr
    );

    // No password: said before anything is sent.
    let calls = pds.calls().len();
    let run = feedmixer(
        &setup,
        &["publish", "--pds-url", &url],
        None,
        &[("FEEDMIXER_PUBLISHER_IDENTIFIER", HANDLE)],
    )
    .await
    .expect_err();
    assert!(
        run.stderr
            .contains("FEEDMIXER_PUBLISHER_PASSWORD is not set"),
        "{}",
        run.stderr
    );
    assert_eq!(pds.calls().len(), calls);

    // An account that is not the configured publisher: refused before any
    // write.
    let other = Setup::new(&plc_did("someoneelse"));
    let run = feedmixer(&other, &["publish", "--pds-url", &url], GOOD, &trace)
        .await
        .expect_err();
    assert!(
        run.stderr
            .contains(&format!("signed in as {}", publisher()))
            && run.stderr.contains(&plc_did("someoneelse")),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(PASSWORD) && !run.stdout.contains(PASSWORD));
    assert!(pds.records().is_empty());
    assert_eq!(pds.count("putRecord"), 0);
    pds.assert_no_problems();
}

#[tokio::test]
async fn avatars_are_uploaded_and_referenced_as_blobs() {
    let pds = Pds::start(&publisher()).await;
    let setup = Setup::new(&publisher());
    setup.write("config/for-you.png", PNG);
    setup.edit_feeds(
        "display_name = \"For You\"",
        "display_name = \"For You\"\navatar = \"for-you.png\"",
    );

    publish(&setup, &pds, &[]).await.expect_ok();
    let blobs: Vec<(String, (String, Vec<u8>))> = pds.repo().blobs.clone().into_iter().collect();
    assert_eq!(blobs.len(), 1);
    let (cid, (mime, bytes)) = &blobs[0];
    assert_eq!((mime.as_str(), bytes.as_slice()), ("image/png", PNG));
    let records = pds.records();
    assert_eq!(
        records["for-you"]["avatar"],
        json!({"$type": "blob", "ref": {"$link": cid}, "mimeType": "image/png", "size": PNG.len()})
    );
    assert!(records["trending"].get("avatar").is_none());

    // The same image again: the same blob, the record untouched.
    let run = publish(&setup, &pds, &["--feed", "for-you"])
        .await
        .expect_ok();
    assert_eq!(run.feeds("unchanged"), ["for-you"], "{}", run.stdout);
    pds.assert_no_problems();

    // `check` refuses an avatar that is no image, at its line; publish
    // does not start.
    setup.write("config/for-you.png", "not a picture");
    let calls = pds.calls().len();
    let run = feedmixer(&setup, &["check"], None, &[]).await.expect_err();
    let line = std::fs::read_to_string(setup.path("config/feeds.toml"))
        .unwrap()
        .lines()
        .position(|l| l.starts_with("avatar"))
        .unwrap()
        + 1;
    assert!(
        run.stdout.contains(&format!(
            "config/feeds.toml:{line}: feed \"for-you\": avatar \"for-you.png\": not a PNG or JPEG image"
        )),
        "{}",
        run.stdout
    );
    publish(&setup, &pds, &[]).await.expect_err();
    assert_eq!(pds.calls().len(), calls);
}

#[tokio::test]
async fn unpublish_deletes_one_record_and_a_missing_one_is_fine() {
    let pds = Pds::start(&publisher()).await;
    let setup = Setup::new(&publisher());
    publish(&setup, &pds, &[]).await.expect_ok();
    let url = pds.url();

    let run = feedmixer(
        &setup,
        &["unpublish", "trending", "--pds-url", &url],
        GOOD,
        &[],
    )
    .await
    .expect_ok();
    assert_eq!(run.feeds("deleted"), ["trending"], "{}", run.stdout);
    assert!(run.stdout.contains(&setup.uri("trending")));
    let left: Vec<String> = pds.records().into_keys().collect();
    let others: Vec<&str> = FEEDS.into_iter().filter(|f| *f != "trending").collect();
    assert_eq!(left, others);

    let run = feedmixer(
        &setup,
        &["unpublish", "trending", "--pds-url", &url],
        GOOD,
        &[],
    )
    .await
    .expect_ok();
    assert!(
        run.stdout.contains("nothing to delete") && run.feeds("absent") == ["trending"],
        "{}",
        run.stdout
    );
    assert_eq!(pds.count("deleteRecord"), 1);

    let run = feedmixer(&setup, &["unpublish", "a/b", "--pds-url", &url], GOOD, &[])
        .await
        .expect_err();
    assert!(run.stderr.contains("not a record key"), "{}", run.stderr);
    assert_eq!(pds.records().len(), FEEDS.len() - 1);
    pds.assert_no_problems();
}

#[tokio::test]
async fn the_pds_is_found_in_the_publishers_did_document() {
    let dir = Directory::start().await;
    let key = TestKey::k256();
    let did = publisher();
    let pds = Pds::start(&did).await;
    let with_pds = |did: &str, endpoint: Option<&str>| {
        let mut doc = did_doc(did, &key.public());
        match endpoint {
            Some(url) => doc["service"][0]["serviceEndpoint"] = json!(url),
            None => doc["service"] = json!([]),
        }
        doc.to_string()
    };
    dir.put(&did, with_pds(&did, Some(&format!("{}/", pds.url()))));
    let setup = Setup::new(&did);
    let plc = dir.plc_url();

    // did:plc, from --plc-url.
    let run = feedmixer(&setup, &["publish", "--plc-url", &plc], GOOD, &[])
        .await
        .expect_ok();
    assert_eq!(run.feeds("created"), FEEDS, "{}", run.stdout);
    assert_eq!(pds.records().len(), FEEDS.len());
    assert_eq!(dir.requests(&did), 1);
    // ... and from FEEDMIXER_PLC_URL.
    let run = feedmixer(
        &setup,
        &["unpublish", "curated"],
        GOOD,
        &[("FEEDMIXER_PLC_URL", &plc)],
    )
    .await
    .expect_ok();
    assert_eq!(run.feeds("deleted"), ["curated"]);
    assert_eq!(dir.requests(&did), 2);

    // did:web (on localhost, over plain HTTP).
    let web = dir.web_did();
    let web_pds = Pds::start(&web).await;
    dir.put(&web, with_pds(&web, Some(&web_pds.url())));
    let web_setup = Setup::new(&web);
    feedmixer(&web_setup, &["publish", "--feed", "for-you"], GOOD, &[])
        .await
        .expect_ok();
    assert_eq!(web_pds.records().keys().collect::<Vec<_>>(), ["for-you"]);

    // A document that names no PDS: said, nothing sent.
    dir.put(&did, with_pds(&did, None));
    let calls = pds.calls().len();
    let run = feedmixer(&setup, &["publish", "--plc-url", &plc], GOOD, &[])
        .await
        .expect_err();
    assert!(
        run.stderr.contains("names no PDS") && run.stderr.contains("--pds-url"),
        "{}",
        run.stderr
    );
    // And a DID the directory does not know.
    dir.remove(&did);
    let run = feedmixer(&setup, &["publish", "--plc-url", &plc], GOOD, &[])
        .await
        .expect_err();
    assert!(
        run.stderr.contains("not found") && run.stderr.contains("--pds-url"),
        "{}",
        run.stderr
    );
    assert_eq!(pds.calls().len(), calls);
    pds.assert_no_problems();
    web_pds.assert_no_problems();
}
