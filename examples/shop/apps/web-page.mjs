// The shop's HTML page, rendered from web's /api/products answer. The badge says which version of
// reviews answered; with "auto-refresh" on, the page reloads every 2 s and counts the versions seen.

const esc = (s) =>
  String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );

const stars = (n) => '★'.repeat(Math.round(n)) + '☆'.repeat(5 - Math.round(n));

function badge(reviews) {
  if (!reviews?.available) return '<span class="badge down">reviews unavailable</span>';
  const v = esc(reviews.version);
  return `<span class="badge ${v}">reviews ${v}${reviews.version === 'v1' ? '' : ' ★'}</span>`;
}

function stockText(q) {
  if (q === null || q === undefined) return '<span class="stock unknown">stock unknown</span>';
  if (q === 0) return '<span class="stock out">out of stock</span>';
  return `<span class="stock">${q} in stock</span>`;
}

function reviewsHtml(r, available) {
  if (!available) return '<p class="muted">reviews unavailable</p>';
  if (!r || r.items.length === 0) return '<p class="muted">no reviews yet</p>';
  const rating =
    typeof r.rating === 'number' ? `<p class="rating">${stars(r.rating)} ${r.rating.toFixed(1)} / 5</p>` : '';
  const items = r.items
    .map(
      (i) =>
        `<li>${i.stars ? `<span class="stars">${stars(i.stars)}</span> ` : ''}“${esc(i.text)}” — ${esc(i.author)}</li>`,
    )
    .join('');
  return `${rating}<ul>${items}</ul>`;
}

export function renderPage(data) {
  const products = data.products ?? [];
  const cards = products
    .map(
      (p) => `<article class="card" data-id="${esc(p.id)}">
  <h2>${esc(p.name)}</h2>
  <p class="price">$${Number(p.price).toFixed(2)}</p>
  <p>${esc(p.description)}</p>
  <p>${stockText(p.stock)}</p>
  <section class="reviews">${reviewsHtml(p.reviews, data.reviews?.available)}</section>
</article>`,
    )
    .join('\n');
  const trouble = data.error ? `<p class="error">${esc(data.error)}</p>` : '';
  const via = [
    data.servedBy && `page by ${esc(data.servedBy)}`,
    data.catalog?.instance && `products by ${esc(data.catalog.instance)}`,
    data.reviews?.instance && `reviews by ${esc(data.reviews.instance)}`,
    data.inventory?.available
      ? `stock by ${esc(data.inventory.instance)}`
      : data.error
        ? ''
        : 'inventory unavailable',
    data.user && `user ${esc(data.user)}`,
  ]
    .filter(Boolean)
    .join(' · ');
  const version = data.reviews?.available ? data.reviews.version : 'none';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Trellis garden shop</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
  header { display: flex; align-items: center; gap: 1rem; flex-wrap: wrap; }
  h1 { margin: 0; font-size: 1.6rem; }
  .badge { padding: .25rem .6rem; border-radius: 1rem; font-weight: 600; background: #ddd; }
  .badge.v1 { background: #dbeafe; } .badge.v2 { background: #fde68a; } .badge.down { background: #fecaca; }
  .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(13rem, 1fr)); gap: 1rem; margin-top: 1rem; }
  .card { border: 1px solid #ddd; border-radius: .5rem; padding: 1rem; }
  .card h2 { font-size: 1.1rem; margin: 0 0 .25rem; }
  .price { font-weight: 700; } .stock { color: #166534; } .stock.out, .error { color: #b91c1c; }
  .muted, .via, .tally { color: #666; font-size: .9rem; } .stars, .rating { color: #b45309; }
  ul { padding-left: 1.1rem; }
</style>
</head>
<body data-reviews-version="${esc(version)}">
<header>
  <h1>Trellis garden shop</h1>
  ${badge(data.reviews)}
  <label class="tally"><input type="checkbox" id="auto"> auto-refresh</label>
  <span class="tally" id="tally"></span>
</header>
<p class="via">${via}</p>
${trouble}
<main class="grid">
${cards}
</main>
<script>
  const auto = document.getElementById('auto');
  const seen = JSON.parse(sessionStorage.getItem('seen') || '[]');
  seen.push(document.body.dataset.reviewsVersion);
  while (seen.length > 50) seen.shift();
  sessionStorage.setItem('seen', JSON.stringify(seen));
  const counts = {};
  for (const v of seen) counts[v] = (counts[v] || 0) + 1;
  document.getElementById('tally').textContent = 'last ' + seen.length + ' loads: ' +
    Object.entries(counts).sort().map(([v, n]) => (v === 'none' ? 'unavailable' : v) + ' ×' + n).join(', ');
  auto.checked = localStorage.getItem('auto') === '1';
  auto.onchange = () => { localStorage.setItem('auto', auto.checked ? '1' : '0'); if (auto.checked) location.reload(); };
  if (auto.checked) setTimeout(() => location.reload(), 2000);
</script>
</body>
</html>
`;
}
