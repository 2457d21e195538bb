//! `feedmixer publish` and `feedmixer unpublish`: the feeds'
//! `app.bsky.feed.generator` records in the publisher's repository, as the
//! feeds file describes them.
//!
//! Every record is built and checked before anything is sent (a record the
//! lexicon refuses stops the command with nothing written); then the
//! command signs in as the publisher (`FEEDMIXER_PUBLISHER_IDENTIFIER`,
//! `FEEDMIXER_PUBLISHER_PASSWORD`) on its PDS (`--pds-url`, or the
//! `#atproto_pds` service of the publisher's DID document) and writes each
//! record, keeping the `createdAt` of the one it replaces and leaving a
//! record that is already as configured untouched: publishing twice
//! changes nothing.

mod xrpc;

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use feedmixer_atproto::clock::now_rfc3339;
use feedmixer_atproto::generator::check_avatar;
use feedmixer_atproto::{Blob, GENERATOR_COLLECTION, GeneratorRecord, is_record_key};
use feedmixer_components::features::viewer_feedback::ViewerFeedback;
use feedmixer_flow::{Catalog, FeatureKey, Feed};
use feedmixer_identity::{DidResolver, ResolverConfig};
use feedmixer_server::ServiceConfig;
use serde::Serialize;
use serde_json::Value;

use xrpc::{Pds, Secret, Session};

const IDENTIFIER_VAR: &str = "FEEDMIXER_PUBLISHER_IDENTIFIER";
const PASSWORD_VAR: &str = "FEEDMIXER_PUBLISHER_PASSWORD";

#[derive(Args)]
pub struct PublishArgs {
    /// Publish only this feed (its key in the feeds file).
    #[arg(long, value_name = "NAME")]
    feed: Option<String>,
    /// Print the records that would be written and send nothing (no sign-in).
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    target: Target,
    /// Directory of flow files (whether a flow reads interactions decides
    /// `acceptsInteractions`).
    #[arg(long, default_value = "flows")]
    flows: PathBuf,
}

#[derive(Args)]
pub struct UnpublishArgs {
    /// The feed's record key (it need not be in the feeds file any more).
    name: String,
    #[command(flatten)]
    target: Target,
}

/// Where the records go.
#[derive(Args)]
struct Target {
    /// The publisher's PDS; by default the `#atproto_pds` service of
    /// `publisher_did`'s DID document.
    #[arg(long, value_name = "URL")]
    pds_url: Option<String>,
    /// PLC directory a did:plc publisher's document is fetched from
    /// (`{plc-url}/{did}`) when `--pds-url` is not given.
    #[arg(long, env = "FEEDMIXER_PLC_URL", default_value = feedmixer_identity::DEFAULT_PLC_URL)]
    plc_url: String,
    /// Service config file: `publisher_did`, `service_did`, the feeds file.
    #[arg(long, default_value = "config/feedmixer.toml")]
    config: PathBuf,
}

/// A feed's record as configured, before the PDS is asked anything.
struct Draft {
    rkey: String,
    uri: String,
    /// `createdAt` is now and the avatar a locally computed blob: what a
    /// new record would be.
    record: GeneratorRecord,
    avatar: Option<Avatar>,
}

struct Avatar {
    bytes: Vec<u8>,
    mime_type: &'static str,
}

pub async fn publish(args: PublishArgs) -> anyhow::Result<()> {
    let config = load_config(&args.target.config)?;
    let registry = feedmixer_components::registry();
    let catalog =
        Catalog::load(&args.flows, &config.feeds, &registry).map_err(crate::show::report)?;
    let feeds = select(&catalog, args.feed.as_deref())?;
    let drafts = drafts(&config, &feeds)?;
    if args.dry_run {
        return print_dry_run(&drafts);
    }
    let (pds, session) = sign_in(&args.target, &config).await?;
    for draft in drafts {
        let rkey = draft.rkey.clone();
        publish_one(&pds, &session, &config.publisher_did, draft)
            .await
            .with_context(|| {
                format!("publishing feed {rkey:?} (those printed before it are published)")
            })?;
    }
    Ok(())
}

pub async fn unpublish(args: UnpublishArgs) -> anyhow::Result<()> {
    let config = load_config(&args.target.config)?;
    let rkey = &args.name;
    if !is_record_key(rkey) {
        bail!("{rkey:?} is not a record key (a feed's key in the feeds file)");
    }
    let uri = config.feed_uri(rkey);
    let (pds, session) = sign_in(&args.target, &config).await?;
    let repo = &config.publisher_did;
    match pds
        .get_record(&session, repo, GENERATOR_COLLECTION, rkey)
        .await?
    {
        None => println!("absent    {rkey:<20} {uri} (no such record: nothing to delete)"),
        Some(existing) => {
            pds.delete_record(
                &session,
                repo,
                GENERATOR_COLLECTION,
                rkey,
                existing.cid.as_deref(),
            )
            .await?;
            println!("deleted   {rkey:<20} {uri}");
        }
    }
    Ok(())
}

/// Each record as JSON (`{rkey, uri, record}`, pretty, one document per
/// feed) on stdout.
fn print_dry_run(drafts: &[Draft]) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Shown<'a> {
        rkey: &'a str,
        uri: &'a str,
        record: &'a GeneratorRecord,
    }
    for draft in drafts {
        let shown = Shown {
            rkey: &draft.rkey,
            uri: &draft.uri,
            record: &draft.record,
        };
        println!("{}", serde_json::to_string_pretty(&shown)?);
    }
    eprintln!(
        "dry run: nothing sent. On publish, a record that exists keeps its createdAt \
         and its avatar is the blob the PDS answers with."
    );
    Ok(())
}

fn load_config(path: &Path) -> anyhow::Result<ServiceConfig> {
    ServiceConfig::load(path).map_err(crate::show::report)
}

/// Every feed, or the one named.
fn select<'a>(catalog: &'a Catalog, only: Option<&str>) -> anyhow::Result<Vec<&'a Feed>> {
    match only {
        None => Ok(catalog.feeds.values().map(AsRef::as_ref).collect()),
        Some(rkey) => {
            let feed = catalog.feed(rkey).ok_or_else(|| {
                let known: Vec<&str> = catalog.feeds.keys().map(String::as_str).collect();
                anyhow!("unknown feed {rkey:?} (feeds: {})", known.join(", "))
            })?;
            Ok(vec![feed.as_ref()])
        }
    }
}

/// The records of `feeds`, every one checked; the error lists every
/// problem of every feed.
fn drafts(config: &ServiceConfig, feeds: &[&Feed]) -> anyhow::Result<Vec<Draft>> {
    let mut problems = Vec::new();
    let mut drafts = Vec::new();
    for feed in feeds {
        let info = &feed.info;
        let avatar = match &info.avatar {
            None => None,
            Some(path) => match read_avatar(path) {
                Ok(avatar) => Some(avatar),
                Err(e) => {
                    problems.push(format!("feed {:?}: avatar: {e:#}", info.rkey));
                    None
                }
            },
        };
        let record = GeneratorRecord {
            did: config.service_did.clone(),
            display_name: info.display_name.clone(),
            description: info.description.clone(),
            avatar: avatar.as_ref().map(|a| Blob::of(&a.bytes, a.mime_type)),
            accepts_interactions: feed.flow.reads(FeatureKey::of::<ViewerFeedback>()),
            created_at: now_rfc3339(),
        };
        if let Err(errors) = record.check() {
            problems.extend(errors.iter().map(|e| format!("feed {:?}: {e}", info.rkey)));
        }
        drafts.push(Draft {
            rkey: info.rkey.clone(),
            uri: config.feed_uri(&info.rkey),
            record,
            avatar,
        });
    }
    if problems.is_empty() {
        Ok(drafts)
    } else {
        bail!("{}\nnothing was sent", problems.join("\n"))
    }
}

/// The avatar file, checked again: it may have changed since the catalog
/// loaded.
fn read_avatar(path: &Path) -> anyhow::Result<Avatar> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mime_type =
        check_avatar(bytes.len() as u64, &bytes).with_context(|| path.display().to_string())?;
    Ok(Avatar { bytes, mime_type })
}

/// The PDS, and a session there as the publisher. The credentials are
/// checked before the first request.
async fn sign_in(target: &Target, config: &ServiceConfig) -> anyhow::Result<(Pds, Session)> {
    let identifier = env_var(IDENTIFIER_VAR)?;
    let password = Secret::new(env_var(PASSWORD_VAR)?);
    let pds = Pds::new(&locate_pds(target, &config.publisher_did).await?)?;
    let session = pds
        .create_session(&identifier, &password)
        .await
        .with_context(|| {
            format!(
                "signing in to {} as {identifier:?} ({IDENTIFIER_VAR}, {PASSWORD_VAR})",
                pds.base()
            )
        })?;
    if session.did != config.publisher_did {
        bail!(
            "signed in as {} ({}), but publisher_did in {} is {}: the records belong in the publisher's repository",
            session.did,
            session.handle,
            target.config.display(),
            config.publisher_did
        );
    }
    tracing::info!(pds = pds.base(), did = %session.did, handle = %session.handle, "signed in");
    Ok((pds, session))
}

fn env_var(name: &str) -> anyhow::Result<String> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => bail!("{name} is not set: publishing signs in as the publisher account"),
    }
}

/// `--pds-url`, or the PDS the publisher's DID document names.
async fn locate_pds(target: &Target, did: &str) -> anyhow::Result<String> {
    if let Some(url) = &target.pds_url {
        return Ok(url.clone());
    }
    let resolver = DidResolver::new(ResolverConfig {
        plc_url: target.plc_url.clone(),
        ..ResolverConfig::default()
    })
    .context("--plc-url")?;
    let doc = resolver
        .resolve(did)
        .await
        .context("finding the PDS of publisher_did (or pass --pds-url)")?;
    let pds = doc.pds_endpoint().ok_or_else(|| {
        anyhow!(
            "the DID document of {did} names no PDS (a #atproto_pds service of type \
             AtprotoPersonalDataServer with an http(s) endpoint): pass --pds-url"
        )
    })?;
    tracing::info!(did, pds, "PDS found in the DID document");
    Ok(pds.to_owned())
}

/// Writes one feed's record unless the stored one is already the same.
async fn publish_one(pds: &Pds, session: &Session, repo: &str, draft: Draft) -> anyhow::Result<()> {
    let Draft {
        rkey,
        uri,
        mut record,
        avatar,
    } = draft;
    let existing = pds
        .get_record(session, repo, GENERATOR_COLLECTION, &rkey)
        .await?;
    if let Some(created_at) = existing
        .as_ref()
        .and_then(|r| r.value.get("createdAt"))
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
    {
        record.created_at = created_at.to_owned();
    }
    if let Some(avatar) = avatar {
        record.avatar = Some(
            pds.upload_blob(session, avatar.bytes, avatar.mime_type)
                .await?,
        );
    }
    let value = serde_json::to_value(&record)?;
    let verb = match &existing {
        Some(stored) if stored.value == value => {
            println!("unchanged {rkey:<20} {uri}");
            return Ok(());
        }
        Some(_) => "updated",
        None => "created",
    };
    let swap = existing.as_ref().and_then(|r| r.cid.as_deref());
    pds.put_record(session, repo, GENERATOR_COLLECTION, &rkey, &value, swap)
        .await?;
    println!("{verb:<9} {rkey:<20} {uri}");
    Ok(())
}
