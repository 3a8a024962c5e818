// Live updates: when a task changes elsewhere (another tab, the JSON API),
// fetch the page again and swap in its list; whatever you are typing stays.
const tasks = document.getElementById("tasks");
if (tasks) {
  const { feed: feedUrl, page: pageUrl } = tasks.dataset;
  const feed = new EventSource(feedUrl);
  // <html data-live="on"> lights the "live" dot while the feed is connected.
  feed.addEventListener("open", () => (document.documentElement.dataset.live = "on"));
  feed.addEventListener("error", () => (document.documentElement.dataset.live = "off"));
  feed.addEventListener("task", async () => {
    const response = await fetch(pageUrl);
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const id of ["tasks", "summary"]) {
      const fresh = page.getElementById(id);
      if (fresh) document.getElementById(id).replaceWith(fresh);
    }
  });
  // A form post loads a new page anyway: stop listening so no update races it.
  addEventListener("submit", () => feed.close());
}
