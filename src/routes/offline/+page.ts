// The service worker's offline shell: built once, identical for everyone, no server data. Served
// for any navigation the network cannot answer; Kit then routes the real URL on the client.
export const prerender = true;
export const ssr = false;
