// Models and storage: every item model under QAbstractItemModelTester through appends,
// evictions and filters; the event budget; the asynchronous filter's results.
#include "gui_test_support.h"

#include "core/catalog_model.h"
#include "core/ingest.h"

#include <gtest/gtest.h>

using namespace layertrace;
using namespace layertrace::gui;
using namespace layertrace::gui::test;

TEST(EventStore, EvictsOldestBeyondBudgetAndCountsThem) {
    EventStore store(10'000);
    auto events = syntheticLoad(2'000, 2); // 16,000 events
    for (auto& ev : events)
        store.append(std::move(ev));
    EXPECT_EQ(store.endIndex(), 16'000u);
    EXPECT_EQ(store.size(), 10'000u);
    EXPECT_EQ(store.evicted(), 6'000u);
    EXPECT_FALSE(store.contains(5'999));
    EXPECT_TRUE(store.contains(6'000));
    EXPECT_EQ(store.at(15'999).seq, 15'999u);
    EXPECT_THROW(static_cast<void>(store.at(10)), std::out_of_range);
}

TEST(EventStore, SnapshotStaysReadableAfterEviction) {
    EventStore store(5'000);
    auto events = syntheticLoad(500, 1); // 4,000
    for (auto& ev : events)
        store.append(std::move(ev));
    const EventSnapshot snap = store.snapshot(0, 4'000);
    auto more = syntheticLoad(2'000, 1, 4'000); // evicts everything the snapshot covers
    for (auto& ev : more)
        store.append(std::move(ev));
    EXPECT_FALSE(store.contains(100));
    EXPECT_EQ(snap.at(100).seq, 100u);
    EXPECT_EQ(snap.at(3'999).seq, 3'999u);
}

TEST(EventListModel, PassesModelTesterThroughAppendsAndEvictions) {
    TraceDocument doc(3'000);
    ModelChecker checker(doc.eventList());
    for (int tick = 0; tick < 5; ++tick)
        doc.appendBatch(syntheticLoad(200, 3, std::uint64_t(tick) * 1600)); // 1,600 events per tick
    EXPECT_EQ(doc.eventList()->rowCount(), 3'000);
    EXPECT_EQ(doc.evicted(), 5'000u);
    EXPECT_EQ(doc.eventList()->absoluteIndex(0), 5'000);
    EXPECT_EQ(doc.eventList()->index(0, EventListModel::ColSeq).data().toULongLong(), 5'000u);
    EXPECT_TRUE(checker.failures().isEmpty()) << checker.failures().join('\n').toStdString();
}

TEST(EventListModel, LostExitsAreShownAsSuch) {
    TraceDocument doc;
    std::vector<TraceEvent> events(3);
    events[0].kind = EventKind::NativeEnter;
    events[0].symbol = "f";
    events[1].kind = EventKind::NativeExit;
    events[1].symbol = "f";
    events[1].lost = true;
    events[2] = events[1];
    events[2].lost = false;
    for (std::size_t i = 0; i < events.size(); ++i)
        events[i].seq = i;
    doc.appendBatch(std::move(events));
    EXPECT_EQ(doc.eventList()->index(1, EventListModel::ColKind).data().toString(), QStringLiteral("native_exit (lost)"));
    EXPECT_EQ(doc.eventList()->index(2, EventListModel::ColKind).data().toString(), QStringLiteral("native_exit"));
    EXPECT_TRUE(doc.describe(1).contains(QStringLiteral("exit was not recorded"))) << doc.describe(1).toStdString();
    EXPECT_FALSE(doc.describe(2).contains(QStringLiteral("Lost")));
}

TEST(EventListModel, FilterRunsOffThreadAndFollowsNewRows) {
    TraceDocument doc;
    ModelChecker checker(doc.eventList());
    feedPartFour(doc);
    EventFilter f;
    f.role = Role::Native;
    doc.eventList()->setFilter(f);
    ASSERT_TRUE(waitFor([&] { return !doc.eventList()->filterPending(); }));
    // libstruct_demo.so's load, then transform_record and sd_filter_items: enter and exit each.
    ASSERT_EQ(doc.eventList()->rowCount(), 5);
    for (int r = 0; r < 5; ++r)
        EXPECT_EQ(doc.eventList()->index(r, 0).data(EventListModel::RoleRole).toInt(), int(Role::Native));
    // New events are filtered as they arrive.
    auto more = scriptedPartFourTrace();
    doc.appendBatch(std::move(more));
    ASSERT_TRUE(waitFor([&] { return !doc.eventList()->filterPending() && doc.eventList()->rowCount() == 10; }));
    // Text search is case-insensitive over function and module names.
    f = EventFilter{};
    f.text = QStringLiteral("TRANSFORM_rec");
    doc.eventList()->setFilter(f);
    ASSERT_TRUE(waitFor([&] { return !doc.eventList()->filterPending(); }));
    EXPECT_EQ(doc.eventList()->rowCount(), 4); // transform_record enter and exit, in both streams

    doc.eventList()->setFilter(EventFilter{});
    EXPECT_EQ(doc.eventList()->rowCount(), int(doc.store().size()));
    EXPECT_TRUE(checker.failures().isEmpty()) << checker.failures().join('\n').toStdString();
}

TEST(CallTreeModel, PassesModelTesterAndNestsCalls) {
    TraceDocument doc;
    ModelChecker checker(doc.callTree());
    feedPartFour(doc);
    doc.appendBatch(syntheticLoad(50, 2));
    CallTreeModel* tree = doc.callTree();
    ASSERT_EQ(tree->rowCount(), 3); // thread 4242, 1000, 1001
    const QModelIndex thread = tree->index(0, 0);
    EXPECT_EQ(thread.data().toString(), QStringLiteral("Thread 4242"));
    const QModelIndex main = tree->index(0, 0, thread);
    EXPECT_EQ(main.data().toString(), QStringLiteral("main"));
    // main → InputRecordPy.__init__, transform
    ASSERT_EQ(tree->rowCount(main), 2);
    const QModelIndex transform = tree->index(1, 0, main);
    EXPECT_EQ(transform.data().toString(), QStringLiteral("transform"));
    // transform → to_ctypes, PyCFuncPtr_call → ffi_call → transform_record → sd_filter_items
    QModelIndex call = tree->index(1, 0, transform);
    EXPECT_EQ(call.data().toString(), QStringLiteral("PyCFuncPtr_call"));
    call = tree->index(0, 0, tree->index(0, 0, call));
    EXPECT_EQ(call.data().toString(), QStringLiteral("transform_record"));
    EXPECT_EQ(tree->index(0, 0, call).data().toString(), QStringLiteral("sd_filter_items"));
    EXPECT_NE(tree->index(0, CallTreeModel::ColDuration, call).data().toString(), QStringLiteral("running"));
    // Enter and exit events of one call map to the same node.
    const std::int64_t enter = tree->enterOf(10);
    EXPECT_EQ(enter, 10);
    EXPECT_EQ(tree->indexForEvent(std::uint64_t(tree->exitOf(10))), tree->indexForEvent(10));
    EXPECT_TRUE(checker.failures().isEmpty()) << checker.failures().join('\n').toStdString();
}

TEST(CallTreeModel, StopsGrowingAtItsBudgetAndCountsTheRest) {
    TraceDocument doc(1'000); // tree budget follows the event budget
    ModelChecker checker(doc.callTree());
    doc.appendBatch(syntheticLoad(500, 1)); // 2,000 calls
    EXPECT_EQ(doc.callTree()->nodeCount(), 1'000u);
    EXPECT_EQ(doc.callTree()->callsOverBudget(), 2'000u - 999u);
    EXPECT_TRUE(checker.failures().isEmpty()) << checker.failures().join('\n').toStdString();
}

TEST(CatalogModel, ListsEveryDemoOfTheRealCatalog) {
    const tracer::Catalog catalog = tracer::Catalog::load(LAYERTRACE_SOURCE_CATALOG);
    CatalogModel model;
    ModelChecker checker(&model);
    model.setCatalog(catalog);
    ASSERT_EQ(model.rowCount(), int(catalog.demos.size()));
    ASSERT_GT(model.rowCount(), 0);
    const tracer::Demo* partFour = catalog.find("ctypes_complex_struct");
    ASSERT_NE(partFour, nullptr);
    bool found = false;
    for (int r = 0; r < model.rowCount(); ++r) {
        const QModelIndex i = model.index(r);
        if (i.data(CatalogModel::NameRole).toString() == QLatin1String("ctypes_complex_struct")) {
            found = true;
            EXPECT_EQ(i.data(CatalogModel::PartRole).toString(), QStringLiteral("IV"));
            EXPECT_TRUE(i.data().toString().startsWith(QStringLiteral("Part IV")));
            EXPECT_FALSE(i.data(CatalogModel::SummaryRole).toString().isEmpty());
        }
    }
    EXPECT_TRUE(found);
    EXPECT_TRUE(checker.failures().isEmpty()) << checker.failures().join('\n').toStdString();
}

TEST(Ingest, WorkerHandsEveryEventToTheDocumentInOrder) {
    TraceDocument doc;
    IngestWorker worker(std::make_unique<MemorySource>(syntheticLoad(20'000, 4), QStringLiteral("test load")), doc);
    bool finished = false;
    QObject::connect(&worker, &IngestWorker::finishedIngest, [&] { finished = true; });
    worker.start();
    ASSERT_TRUE(waitFor([&] { return finished; }, 30000));
    EXPECT_EQ(doc.totalEvents(), 160'000u);
    EXPECT_EQ(doc.droppedByGui(), 0u);
    EXPECT_EQ(doc.eventList()->rowCount(), 160'000);
    for (std::uint64_t i : {0ull, 1ull, 79'999ull, 159'999ull})
        EXPECT_EQ(doc.store().at(i).seq, i);
    EXPECT_EQ(doc.sourceState(), QStringLiteral("complete"));
}
