//! The MongoDB driver as patched in `vendor/mongodb` (see `vendor/README.md`): what each patch
//! changed must still do its job, seen in the commands the server receives.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::TryStreamExt;
use mongodb::{
    Client, Database,
    bson::{Bson, Document, Timestamp, doc},
    event::{EventHandler, command::CommandEvent},
    options::ClientOptions,
};

use crate::support::{stack_var, unique, wait_until};

/// A client on the shared server that records every command it sends and every reply.
async fn recorded_client() -> (Client, Arc<Mutex<Vec<CommandEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut options = ClientOptions::parse(stack_var("MONGODB_URI"))
        .await
        .expect("options");
    let sink = Arc::clone(&events);
    options.command_event_handler = Some(EventHandler::callback(move |event| {
        sink.lock().expect("events").push(event);
    }));
    (Client::with_options(options).expect("client"), events)
}

fn started(events: &Mutex<Vec<CommandEvent>>, name: &str) -> Vec<Document> {
    events
        .lock()
        .expect("events")
        .iter()
        .filter_map(|event| match event {
            CommandEvent::Started(e) if e.command_name == name => Some(e.command.clone()),
            _ => None,
        })
        .collect()
}

async fn database() -> (Client, Arc<Mutex<Vec<CommandEvent>>>, Database) {
    let (client, events) = recorded_client().await;
    let db = client.database(&unique("driver"));
    (client, events, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_one_after_another_reuse_one_server_session() {
    let (_client, events, db) = database().await;
    let coll = db.collection::<Document>("items");
    coll.insert_one(doc! { "n": 0 }).await.unwrap();
    for _ in 0..50 {
        coll.find_one(doc! { "n": 0 })
            .await
            .unwrap()
            .expect("the item");
    }
    let ids: Vec<Bson> = started(&events, "find")
        .iter()
        .map(|command| command.get("lsid").cloned().expect("an implicit session"))
        .collect();
    assert_eq!(ids.len(), 50);
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "each find went back to the pool before the next: one session for all"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_dropped_before_its_end_is_killed_on_the_server() {
    let (_client, events, db) = database().await;
    let coll = db.collection::<Document>("items");
    coll.insert_many((0..10).map(|n| doc! { "n": n }))
        .await
        .unwrap();
    let mut cursor = coll.find(doc! {}).batch_size(2).await.unwrap();
    assert!(cursor.try_next().await.unwrap().is_some());
    let reply = events
        .lock()
        .expect("events")
        .iter()
        .find_map(|e| match e {
            CommandEvent::Succeeded(s) if s.command_name == "find" => Some(s.reply.clone()),
            _ => None,
        })
        .expect("the find's reply");
    let id = reply.get_document("cursor").unwrap().get_i64("id").unwrap();
    assert_ne!(id, 0, "ten items in batches of two leave the cursor open");
    drop(cursor);
    wait_until(Duration::from_secs(5), || {
        let kills = started(&events, "killCursors");
        async move {
            kills.iter().any(|k| {
                k.get_array("cursors")
                    .is_ok_and(|ids| ids.contains(&Bson::Int64(id)))
            })
        }
    })
    .await
    .expect("killCursors for the dropped cursor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_dropped_inside_a_transaction_aborts_it() {
    let (client, events, db) = database().await;
    let coll = db.collection::<Document>("items");
    coll.insert_one(doc! { "n": 0 }).await.unwrap();
    let mut session = client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    coll.insert_one(doc! { "n": 1 })
        .session(&mut session)
        .await
        .unwrap();
    drop(session);
    wait_until(Duration::from_secs(5), || {
        let aborts = started(&events, "abortTransaction").len();
        async move { aborts == 1 }
    })
    .await
    .expect("abortTransaction for the dropped session");
    assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_carries_the_newest_cluster_time_it_has_seen() {
    let (_client, events, db) = database().await;
    let coll = db.collection::<Document>("items");
    for n in 0..20 {
        coll.insert_one(doc! { "n": n }).await.unwrap();
        coll.find_one(doc! { "n": n })
            .await
            .unwrap()
            .expect("the item");
    }
    let time = |d: &Document| -> Option<Timestamp> {
        d.get_document("$clusterTime")
            .ok()?
            .get_timestamp("clusterTime")
            .ok()
    };
    let mut newest: Option<Timestamp> = None;
    let mut replies = 0;
    for event in events.lock().expect("events").iter() {
        match event {
            CommandEvent::Started(e) if e.command_name == "insert" || e.command_name == "find" => {
                if let Some(seen) = newest {
                    let sent = time(&e.command).expect("the command gossips a cluster time");
                    assert!(sent >= seen, "{sent:?} sent after {seen:?} was seen");
                }
            }
            CommandEvent::Succeeded(e) => {
                if let Some(t) = time(&e.reply) {
                    replies += 1;
                    newest = newest.max(Some(t));
                }
            }
            _ => {}
        }
    }
    assert!(
        replies >= 40,
        "the server's replies carry cluster times ({replies})"
    );
}
