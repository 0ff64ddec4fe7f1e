// C++ thread_local: dynamic initialisation through the TLS wrappers, constructed once
// per thread that touches it, destroyed once at that thread's exit; the main thread's
// before the static destructors, as exit() does natively.
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

static std::atomic<int> constructed{0}, destroyed{0}, touched{0};
static std::atomic<bool> quiet{false}; // threads running at once finish in any order

struct Tracker {
    std::string name;
    int touches = 0;
    Tracker() : name("tracker-" + std::to_string(++constructed)) {}
    ~Tracker() {
        ++destroyed;
        touched += touches;
        if (!quiet) std::printf("  ~%s after %d touches\n", name.c_str(), touches);
    }
};

thread_local Tracker tracker;
thread_local int plain = 3;
thread_local std::string text = "init";
static thread_local std::vector<int> history;

struct AtEnd {
    ~AtEnd() {
        std::printf("static dtor: constructed=%d destroyed=%d\n", constructed.load(),
                    destroyed.load());
    }
} at_end;

static void worker(int id, bool touch) {
    plain += id;
    text += "-" + std::to_string(id);
    history.push_back(id);
    history.push_back(plain);
    if (touch) {
        tracker.touches++;
        tracker.touches++;
    }
    std::printf("worker %d: plain=%d text=%s history=%zu%s\n", id, plain, text.c_str(),
                history.size(), touch ? (" " + tracker.name).c_str() : "");
}

int main() {
    for (int i = 1; i <= 6; i++) {
        std::thread t(worker, i, i % 3 != 0);
        t.join();
        std::printf("joined %d: constructed=%d destroyed=%d\n", i, constructed.load(),
                    destroyed.load());
    }
    quiet = true;
    touched = 0;
    std::vector<std::thread> all;
    for (int i = 10; i < 14; i++) all.emplace_back([i] { tracker.touches += i; plain = i; });
    for (auto &t : all) t.join();
    quiet = false;
    std::printf("after 4 at once: constructed=%d destroyed=%d touches=%d\n",
                constructed.load(), destroyed.load(), touched.load());
    worker(0, true);
    return 0;
}
