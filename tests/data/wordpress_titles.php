<?php
/*
 * What WordPress's RSS widget and RSS block show as titles for a feed file.
 *
 *   php wordpress_titles.php WORDPRESS_DIR FEED_FILE
 *
 * Prints JSON: {"feed": {"raw", "shown"}, "items": [{"raw", "shown"}, ...]} where "raw" is
 * SimplePie's get_title() and "shown" the text a browser displays of the widget's HTML.
 *
 * SimplePie is set up as wp-includes/feed.php's fetch_feed() sets it up (WordPress's KSES
 * sanitiser), with the document given as raw data instead of fetched: no network, no database.
 * The titles are made as wp_widget_rss_output() (wp-includes/widgets.php) and
 * render_block_core_rss() (wp-includes/blocks/rss.php) make them:
 *     esc_html( trim( strip_tags( $item->get_title() ) ) )
 * and the widget's own heading from the channel title:
 *     esc_html( strip_tags( $rss->get_title() ) )
 * "shown" decodes that HTML's character references, as a browser does with text.
 */

if ($argc !== 3) {
    fwrite(STDERR, "usage: php wordpress_titles.php WORDPRESS_DIR FEED_FILE\n");
    exit(2);
}
define('ABSPATH', rtrim($argv[1], '/') . '/');
define('WPINC', 'wp-includes');

require ABSPATH . WPINC . '/load.php';
require ABSPATH . WPINC . '/plugin.php';
require ABSPATH . WPINC . '/cache.php';
// The options WordPress would read from its database: only the charset matters here.
wp_cache_init();
wp_cache_set('alloptions', array('blog_charset' => 'UTF-8'), 'options');
require ABSPATH . WPINC . '/formatting.php';
require ABSPATH . WPINC . '/kses.php';
require ABSPATH . WPINC . '/functions.php';
require ABSPATH . WPINC . '/class-simplepie.php';
require ABSPATH . WPINC . '/class-wp-simplepie-sanitize-kses.php';

$feed = new SimplePie();
$feed->set_sanitize_class('WP_SimplePie_Sanitize_KSES');
$feed->sanitize = new WP_SimplePie_Sanitize_KSES();
$feed->enable_cache(false);
$feed->set_raw_data(file_get_contents($argv[2]));
$feed->init();
$feed->set_output_encoding(get_option('blog_charset'));
if ($feed->error()) {
    fwrite(STDERR, 'SimplePie: ' . $feed->error() . "\n");
    exit(1);
}

function shown($html) {
    return html_entity_decode($html, ENT_QUOTES | ENT_HTML5, 'UTF-8');
}

$raw = $feed->get_title();
$out = array(
    'simplepie' => SIMPLEPIE_VERSION,
    'feed' => array('raw' => $raw, 'shown' => shown(esc_html(strip_tags($raw)))),
    'items' => array(),
);
foreach ($feed->get_items() as $item) {
    $raw = $item->get_title();
    $title = esc_html(trim(strip_tags($raw)));
    $out['items'][] = array('raw' => $raw, 'shown' => shown($title));
}
echo json_encode($out, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES), "\n";
