<?php
/**
 * Larder page cache: WordPress's advanced-cache.php drop-in.
 *
 * Copy this file to wp-content/advanced-cache.php and set
 * define( 'WP_CACHE', true ) in wp-config.php.  See README.md beside it.
 *
 * The idea.  WordPress includes this file at the very start of a request,
 * before the database, plugins or theme.  An anonymous GET or HEAD is looked
 * up in Larder and, when the page is there, sent at once and the request
 * ends.  On a miss WordPress runs as usual, the output is captured, and a
 * 200 HTML page that is safe to share (no cookie set, no Cache-Control
 * private/no-store/no-cache, no logged-in user) is stored with its headers
 * for LARDER_PAGE_TTL seconds.  Responses carry X-Cache: HIT, MISS or BYPASS.
 *
 * Keys.  A page lives in two items:
 *   <prefix>page:<scheme>://<host><request uri>   the raw body, nothing else
 *   <prefix>meta:<scheme>://<host><request uri>   status, headers, time
 * The host is the Host header without its port, lower-cased; the URI is
 * exactly what the client sent.  That is what nginx has in $scheme, $host
 * and $request_uri, so nginx's own memcached module can serve the body item
 * with no PHP at all (see nginx/larder-page-cache.conf); nginx escapes '%'
 * in keys as "%25", and so does this file.  Other content types (feeds)
 * keep their body in the meta item, which nginx never reads, so nginx only
 * ever sends HTML with its default_type.
 *
 * Purging is by key, because nginx cannot evaluate group versions: when a
 * post, a comment or a term changes, the post, its archives (terms, author,
 * dates, post type), the home page and the feeds are deleted at the end of
 * the request.  Every stored URL is also appended to an index item, so that
 * purge_all() (theme switch, menus, `wp larder flush`) can delete them all.
 * LARDER_PAGE_PURGE 'all' purges everything on every change.
 */

defined( 'LARDER_PAGE_CACHE' ) || define( 'LARDER_PAGE_CACHE', '1.1.0' );

if ( ! class_exists( 'Larder_Page_Cache' ) ) {

	/**
	 * The page cache, as static methods: it runs before WordPress, once per
	 * request.  The rules (bypass_reason(), cacheable_response()) are pure
	 * functions of the request and response, so they can be tested alone.
	 */
	class Larder_Page_Cache {

		/** Seconds a page is kept; LARDER_PAGE_TTL overrides. */
		const TTL = 3600;

		/** Cookies (name prefixes) of visitors who must get pages of their own; LARDER_PAGE_SKIP_COOKIES adds more. */
		const SKIP_COOKIES = array(
			'wordpress_logged_in_',
			'wordpress_sec_',
			'wp-postpass_',
			'comment_author_',
			'wordpress_no_cache',
			'woocommerce_items_in_cart',
			'woocommerce_cart_hash',
			'wp_woocommerce_session_',
			'edd_items_in_cart',
		);

		/** Query parameters that make a request uncacheable; LARDER_PAGE_SKIP_QUERY adds more. */
		const SKIP_QUERY = array( 's', 'preview', 'nocache', 'replytocom', 'rest_route', 'doing_wp_cron', 'wc-ajax', 'add-to-cart', 'customize_changeset_uuid' );

		/** Paths never cached: the admin, logins, cron, the REST API, form targets. */
		const SKIP_PATH = '#^/(wp-admin|wp-login\.php|wp-cron\.php|xmlrpc\.php|wp-json|wp-comments-post\.php|wp-signup\.php|wp-activate\.php|wp-trackback\.php|wp-mail\.php)#';

		/** Response headers not replayed from the cache. */
		const DROP_HEADERS = array( 'x-cache', 'set-cookie', 'content-length', 'date', 'age', 'transfer-encoding', 'connection' );

		/** Longest memcached key. */
		const MAX_KEY_LENGTH = 250;

		/** @var Memcached|null|false The client; false when it cannot be had. */
		protected static $mc = null;

		/** @var string|null URL (key form) of this request when it may be stored. */
		protected static $url = null;

		/** @var string The output captured so far. */
		protected static $buffer = '';

		/** @var array URLs (key form) to delete at the end of the request, as keys. */
		protected static $purge = array();

		/** @var bool Whether everything is to be purged at the end of the request. */
		protected static $purge_everything = false;

		/** @var string What happened to this request: hit, miss, bypass (and why) or off. */
		public static $status = 'off';

		/*
		 * ---- Settings ---------------------------------------------------------
		 */

		public static function enabled() {
			return ! ( defined( 'LARDER_DISABLED' ) && LARDER_DISABLED ) && ! ( defined( 'LARDER_PAGE_DISABLED' ) && LARDER_PAGE_DISABLED );
		}

		public static function ttl() {
			return defined( 'LARDER_PAGE_TTL' ) ? max( 1, (int) LARDER_PAGE_TTL ) : self::TTL;
		}

		public static function prefix() {
			return defined( 'LARDER_PAGE_PREFIX' ) ? (string) LARDER_PAGE_PREFIX : 'larder:';
		}

		/**
		 * The one server pages live on: LARDER_PAGE_SERVER, else the first of
		 * LARDER_SERVERS, else 127.0.0.1:11211.  One server, because nginx
		 * must find the page where PHP put it.  Returns [ host, port ].
		 */
		public static function server() {
			$s = defined( 'LARDER_PAGE_SERVER' ) ? LARDER_PAGE_SERVER : ( defined( 'LARDER_SERVERS' ) ? LARDER_SERVERS : '127.0.0.1:11211' );
			if ( is_array( $s ) ) {
				$s = reset( $s );
				if ( is_array( $s ) ) {
					return array( (string) $s[0], (int) ( $s[1] ?? 11211 ) );
				}
			}
			$s = trim( explode( ',', (string) $s )[0] );
			if ( 0 === strpos( $s, 'unix://' ) || '/' === substr( $s, 0, 1 ) ) {
				return array( preg_replace( '#^unix://#', '', $s ), 0 );
			}
			if ( preg_match( '/^\[([^\]]+)\](?::(\d+))?/', $s, $m ) ) {
				return array( $m[1], (int) ( $m[2] ?? 11211 ) );
			}
			$parts = explode( ':', $s );
			return array( $parts[0], isset( $parts[1] ) ? (int) $parts[1] : 11211 );
		}

		protected static function list_setting( $name, array $defaults ) {
			if ( ! defined( $name ) ) {
				return $defaults;
			}
			$extra = constant( $name );
			$extra = is_array( $extra ) ? $extra : explode( ',', (string) $extra );
			return array_merge( $defaults, array_filter( array_map( 'trim', $extra ), 'strlen' ) );
		}

		/*
		 * ---- The rules ----------------------------------------------------------
		 */

		/**
		 * Why this request must not be served from or stored in the cache, or
		 * null when it may.  $server, $cookies and $query are $_SERVER,
		 * $_COOKIE and $_GET.
		 */
		public static function bypass_reason( array $server, array $cookies, array $query ) {
			$method = strtoupper( $server['REQUEST_METHOD'] ?? '' );
			if ( 'GET' !== $method && 'HEAD' !== $method ) {
				return 'method';
			}
			if ( ! isset( $server['REQUEST_URI'], $server['HTTP_HOST'] ) ) {
				return 'no request';
			}
			$path = (string) parse_url( $server['REQUEST_URI'], PHP_URL_PATH );
			if ( preg_match( self::SKIP_PATH, $path ) ) {
				return 'path';
			}
			if ( isset( $server['HTTP_AUTHORIZATION'] ) || isset( $server['PHP_AUTH_USER'] ) ) {
				return 'authorization';
			}
			$skip = self::list_setting( 'LARDER_PAGE_SKIP_COOKIES', self::SKIP_COOKIES );
			foreach ( array_keys( $cookies ) as $name ) {
				foreach ( $skip as $prefix ) {
					if ( 0 === strpos( (string) $name, $prefix ) ) {
						return 'cookie';
					}
				}
			}
			foreach ( self::list_setting( 'LARDER_PAGE_SKIP_QUERY', self::SKIP_QUERY ) as $name ) {
				if ( array_key_exists( $name, $query ) ) {
					return 'query';
				}
			}
			if ( null === self::key_of( self::request_url( $server ), 'meta' ) ) {
				return 'key';
			}
			return null;
		}

		/**
		 * The URL of the request in key form: scheme, host without port, the
		 * URI as sent.  HTTPS is also taken from X-Forwarded-Proto, as set by a
		 * proxy in front.
		 */
		public static function request_url( array $server ) {
			$https  = ( ! empty( $server['HTTPS'] ) && 'off' !== strtolower( $server['HTTPS'] ) )
				|| 'https' === strtolower( $server['HTTP_X_FORWARDED_PROTO'] ?? '' );
			$host   = strtolower( preg_replace( '/:\d+$/', '', (string) ( $server['HTTP_HOST'] ?? '' ) ) );
			return ( $https ? 'https' : 'http' ) . '://' . $host . ( $server['REQUEST_URI'] ?? '/' );
		}

		/** A WordPress URL (home_url(), get_permalink()) in key form, or null. */
		public static function url_of( $url ) {
			$p = parse_url( (string) $url );
			if ( ! $p || empty( $p['host'] ) ) {
				return null;
			}
			$out = strtolower( $p['scheme'] ?? 'http' ) . '://' . strtolower( $p['host'] ) . ( $p['path'] ?? '/' );
			return isset( $p['query'] ) ? $out . '?' . $p['query'] : $out;
		}

		/**
		 * The memcached key of a URL: $kind is 'page' (the body, what nginx
		 * reads) or 'meta'.  '%' is written "%25" as nginx does.  Null when
		 * the key would be too long or hold spaces or control bytes.
		 */
		public static function key_of( $url, $kind = 'page' ) {
			$key = self::prefix() . $kind . ':' . str_replace( '%', '%25', (string) $url );
			if ( strlen( $key ) > self::MAX_KEY_LENGTH || ! preg_match( '/^[\x21-\x7e]+$/D', $key ) ) {
				return null;
			}
			return $key;
		}

		protected static function index_key() {
			return self::prefix() . 'page-index';
		}

		/**
		 * Whether a response may be stored: $status is its code, $headers the
		 * lines of headers_list().  Returns null when it may, else why not.
		 */
		public static function refuse_response( $status, array $headers, $body ) {
			if ( 200 !== (int) $status ) {
				return 'status';
			}
			if ( defined( 'DONOTCACHEPAGE' ) && DONOTCACHEPAGE ) {
				return 'DONOTCACHEPAGE';
			}
			if ( '' === (string) $body ) {
				return 'empty';
			}
			foreach ( $headers as $line ) {
				list( $name, $value ) = array_pad( explode( ':', $line, 2 ), 2, '' );
				$name                 = strtolower( trim( $name ) );
				if ( 'set-cookie' === $name ) {
					return 'cookie set';
				}
				if ( 'cache-control' === $name && preg_match( '/\b(private|no-store|no-cache)\b/i', $value ) ) {
					return 'cache-control';
				}
			}
			return null;
		}

		/** The headers worth replaying, and whether the body is HTML. */
		protected static function keep_headers( array $headers, &$html ) {
			$keep = array();
			$html = true;
			foreach ( $headers as $line ) {
				$name = strtolower( trim( explode( ':', $line, 2 )[0] ) );
				if ( in_array( $name, self::DROP_HEADERS, true ) ) {
					continue;
				}
				if ( 'content-type' === $name ) {
					$html = (bool) preg_match( '#:\s*text/html\b#i', $line );
				}
				$keep[] = $line;
			}
			return $keep;
		}

		/*
		 * ---- Serving and storing ------------------------------------------------
		 */

		/**
		 * Runs at the top of every request: sends a cached page and exits, or
		 * arranges for the page to be stored.
		 */
		public static function start() {
			if ( ! self::enabled() || 'cli' === PHP_SAPI ) {
				return;
			}
			$reason = self::bypass_reason( $_SERVER, $_COOKIE, $_GET );
			if ( null !== $reason ) {
				self::$status = 'bypass: ' . $reason;
				header( 'X-Cache: BYPASS' );
				return;
			}
			$url = self::request_url( $_SERVER );
			$hit = self::lookup( $url );
			if ( $hit ) {
				self::$status = 'hit';
				self::send( $hit, 'HEAD' === strtoupper( $_SERVER['REQUEST_METHOD'] ) );
				exit;
			}
			self::$status = 'miss';
			header( 'X-Cache: MISS' );
			if ( false === self::client() ) {
				return; // No server: nothing to store into either.
			}
			if ( 'GET' === strtoupper( $_SERVER['REQUEST_METHOD'] ) ) {
				self::$url = $url; // A HEAD has no body to store (WordPress stops early).
				ob_start( array( __CLASS__, 'capture' ) );
			}
		}

		/** The cached page of a URL: [ meta, body ], or null. */
		public static function lookup( $url ) {
			$mc = self::client();
			if ( ! $mc ) {
				return null;
			}
			$page = self::key_of( $url, 'page' );
			$meta = self::key_of( $url, 'meta' );
			$got  = $mc->getMulti( array( $meta, $page ) );
			if ( ! is_array( $got ) || ! isset( $got[ $meta ] ) || ! is_array( $got[ $meta ] ) ) {
				self::check( $mc );
				return null;
			}
			$m = $got[ $meta ];
			if ( ! empty( $m['html'] ) ) {
				return isset( $got[ $page ] ) && is_string( $got[ $page ] ) ? array( $m, $got[ $page ] ) : null;
			}
			return isset( $m['body'] ) ? array( $m, $m['body'] ) : null;
		}

		protected static function send( array $hit, $head_only ) {
			list( $meta, $body ) = $hit;
			http_response_code( (int) $meta['status'] );
			foreach ( $meta['headers'] as $line ) {
				header( $line, false );
			}
			header( 'X-Cache: HIT' );
			header( 'Age: ' . max( 0, time() - (int) $meta['time'] ) );
			header( 'Content-Length: ' . strlen( $body ) );
			if ( ! $head_only ) {
				echo $body;
			}
		}

		/** Output-buffer callback: collects the page and stores it at the end. */
		public static function capture( $chunk, $phase ) {
			self::$buffer .= $chunk;
			if ( $phase & PHP_OUTPUT_HANDLER_FINAL ) {
				self::store_current();
			}
			return $chunk;
		}

		protected static function store_current() {
			if ( null === self::$url ) {
				return;
			}
			$url       = self::$url;
			self::$url = null;
			if ( function_exists( 'is_user_logged_in' ) && is_user_logged_in() ) {
				return; // Logged in some other way than by cookie.
			}
			self::store( $url, http_response_code(), headers_list(), self::$buffer );
		}

		/**
		 * Stores a page under its URL (key form) if the response allows it.
		 * Returns true when stored.
		 */
		public static function store( $url, $status, array $headers, $body ) {
			if ( null !== self::refuse_response( $status, $headers, $body ) ) {
				return false;
			}
			$mc   = self::client();
			$page = self::key_of( $url, 'page' );
			$meta = self::key_of( $url, 'meta' );
			if ( ! $mc || null === $page || null === $meta ) {
				return false;
			}
			$html  = true;
			$item  = array(
				'status'  => (int) $status,
				'headers' => self::keep_headers( $headers, $html ),
				'time'    => time(),
				'html'    => $html,
			);
			$items = array( $meta => $item );
			if ( $html ) {
				$items[ $page ] = (string) $body;
			} else {
				$items[ $meta ]['body'] = (string) $body;
				$mc->delete( $page ); // nginx must not send it as HTML.
			}
			// Body first: a reader finding the meta item finds the body too.
			$ok = true;
			foreach ( array_reverse( $items, true ) as $key => $value ) {
				$ok = $ok && $mc->set( $key, $value, self::ttl() );
			}
			if ( ! $ok ) {
				self::check( $mc );
				return false;
			}
			if ( ! $mc->append( self::index_key(), $url . "\n" ) ) {
				$mc->add( self::index_key(), $url . "\n" );
			}
			return true;
		}

		/*
		 * ---- Purging ------------------------------------------------------------
		 */

		/** Deletes the pages of these URLs (any form WordPress gives) now. */
		public static function purge_urls( array $urls ) {
			$mc = self::client();
			if ( ! $mc ) {
				return false;
			}
			$keys = array();
			foreach ( $urls as $url ) {
				$u = self::url_of( $url ) ?? $url;
				foreach ( array( 'page', 'meta' ) as $kind ) {
					$k = self::key_of( $u, $kind );
					if ( null !== $k ) {
						$keys[] = $k;
					}
				}
			}
			if ( $keys ) {
				$mc->deleteMulti( array_values( array_unique( $keys ) ) );
			}
			return true;
		}

		/** Deletes every page stored since the last purge_all(), as listed in the index. */
		public static function purge_all() {
			$mc = self::client();
			if ( ! $mc ) {
				return false;
			}
			$index = $mc->get( self::index_key() );
			$mc->delete( self::index_key() );
			if ( is_string( $index ) && '' !== $index ) {
				self::purge_urls( array_unique( array_filter( explode( "\n", $index ), 'strlen' ) ) );
			}
			return Memcached::RES_SUCCESS === $mc->getResultCode() || Memcached::RES_NOTFOUND === $mc->getResultCode();
		}

		/** Queues URLs for deletion at the end of the request. */
		public static function queue( array $urls ) {
			if ( ! self::$purge && ! self::$purge_everything ) {
				register_shutdown_function( array( __CLASS__, 'run_purges' ) );
			}
			foreach ( $urls as $url ) {
				if ( is_string( $url ) && '' !== $url ) {
					self::$purge[ $url ] = true;
				}
			}
		}

		public static function queue_all() {
			self::queue( array() );
			self::$purge_everything = true;
		}

		/** Runs the queued purges; called at the end of the request. */
		public static function run_purges() {
			if ( self::$purge_everything || ( defined( 'LARDER_PAGE_PURGE' ) && 'all' === LARDER_PAGE_PURGE && self::$purge ) ) {
				self::purge_all();
			} elseif ( self::$purge ) {
				self::purge_urls( array_keys( self::$purge ) );
			}
			self::$purge            = array();
			self::$purge_everything = false;
		}

		/** The home page and the site's feeds. */
		public static function site_urls() {
			$urls = array( home_url( '/' ) );
			foreach ( array( 'rss2', 'atom', 'rss', 'rdf', 'comments_rss2', 'comments_atom' ) as $feed ) {
				$urls[] = get_feed_link( $feed );
			}
			if ( 'page' === get_option( 'show_on_front' ) && get_option( 'page_for_posts' ) ) {
				$urls[] = get_permalink( get_option( 'page_for_posts' ) );
			}
			return $urls;
		}

		/** A post's own URLs and its archives: terms, author, dates, post type, and their feeds. */
		public static function post_urls( $post ) {
			$post = get_post( $post );
			if ( ! $post || in_array( $post->post_type, array( 'revision', 'nav_menu_item', 'customize_changeset', 'oembed_cache' ), true ) ) {
				return array();
			}
			$urls = array( get_permalink( $post ), home_url( '/?p=' . $post->ID ), get_post_comments_feed_link( $post->ID ) );
			if ( 'page' === $post->post_type ) {
				$urls[] = home_url( '/?page_id=' . $post->ID );
			}
			$type_archive = get_post_type_archive_link( $post->post_type );
			if ( $type_archive ) {
				$urls[] = $type_archive;
			}
			foreach ( get_object_taxonomies( $post->post_type ) as $taxonomy ) {
				$terms = get_the_terms( $post, $taxonomy );
				foreach ( is_array( $terms ) ? $terms : array() as $term ) {
					$urls = array_merge( $urls, self::term_urls( $term ) );
				}
			}
			$urls[] = get_author_posts_url( $post->post_author );
			$time   = strtotime( $post->post_date );
			if ( $time ) {
				$urls[] = get_year_link( gmdate( 'Y', $time ) );
				$urls[] = get_month_link( gmdate( 'Y', $time ), gmdate( 'm', $time ) );
				$urls[] = get_day_link( gmdate( 'Y', $time ), gmdate( 'm', $time ), gmdate( 'd', $time ) );
			}
			return array_merge( $urls, self::site_urls() );
		}

		public static function term_urls( $term ) {
			$urls = array();
			$link = get_term_link( $term );
			if ( is_string( $link ) ) {
				$urls[] = $link;
				$urls[] = get_term_feed_link( $term->term_id, $term->taxonomy );
			}
			return $urls;
		}

		/** Hooks the purges into WordPress (plugin.php is loaded before this file). */
		public static function add_hooks() {
			if ( ! function_exists( 'add_action' ) ) {
				return;
			}
			$post = function ( $post_id ) {
				if ( function_exists( 'get_post' ) ) {
					self::queue( self::post_urls( $post_id ) );
				}
			};
			add_action( 'pre_post_update', $post, 10, 1 );     // The URLs before the change...
			add_action( 'clean_post_cache', $post, 10, 1 );    // ...and after it.
			add_action( 'wp_trash_post', $post, 10, 1 );
			add_action( 'before_delete_post', $post, 10, 1 );
			add_action(
				'transition_post_status',
				function ( $new, $old, $p ) use ( $post ) {
					$post( $p->ID );
				},
				10,
				3
			);
			$comment = function ( $comment_id ) use ( $post ) {
				$c = get_comment( $comment_id );
				if ( $c ) {
					$post( (int) $c->comment_post_ID );
				}
			};
			foreach ( array( 'comment_post', 'edit_comment', 'deleted_comment', 'trashed_comment', 'wp_set_comment_status' ) as $hook ) {
				add_action( $hook, $comment, 10, 1 );
			}
			add_action(
				'transition_comment_status',
				function ( $new, $old, $c ) use ( $post ) {
					$post( (int) $c->comment_post_ID );
				},
				10,
				3
			);
			$term = function ( $term_id, $tt_id = 0, $taxonomy = '' ) {
				$t = get_term( $term_id, $taxonomy );
				self::queue( array_merge( $t && ! is_wp_error( $t ) ? self::term_urls( $t ) : array(), self::site_urls() ) );
			};
			add_action( 'edit_term', $term, 10, 3 ); // Before the change...
			add_action( 'edited_term', $term, 10, 3 ); // ...and after it.
			add_action( 'created_term', $term, 10, 3 );
			add_action( 'pre_delete_term', $term, 10, 2 );
			foreach ( array( 'switch_theme', 'customize_save_after', 'wp_update_nav_menu', 'update_option_blogname', 'update_option_blogdescription', 'update_option_sidebars_widgets', 'update_option_permalink_structure', 'larder_page_cache_purge_all' ) as $hook ) {
				add_action( $hook, array( __CLASS__, 'queue_all' ), 10, 0 );
			}
		}

		/*
		 * ---- The server -----------------------------------------------------------
		 */

		/**
		 * The client: persistent, text protocol, no compression (nginx reads the
		 * body as stored), short timeouts.  False when it cannot be had.
		 */
		public static function client() {
			if ( null !== self::$mc ) {
				return self::$mc;
			}
			if ( ! class_exists( 'Memcached' ) ) {
				self::log( 'the PHP memcached extension is not loaded' );
				return self::$mc = false;
			}
			list( $host, $port ) = self::server();
			$ms                  = defined( 'LARDER_TIMEOUT_MS' ) ? max( 1, (int) LARDER_TIMEOUT_MS ) : 200;
			$mc                  = new Memcached( 'larder-page:' . $host . ':' . $port . ':' . $ms );
			if ( ! $mc->getServerList() ) {
				$mc->setOptions(
					array(
						Memcached::OPT_BINARY_PROTOCOL => false,
						Memcached::OPT_COMPRESSION     => false,
						Memcached::OPT_TCP_NODELAY     => true,
						Memcached::OPT_NO_BLOCK        => true,
						Memcached::OPT_CONNECT_TIMEOUT => min( $ms, 100 ),
						Memcached::OPT_POLL_TIMEOUT    => $ms,
						Memcached::OPT_SEND_TIMEOUT    => $ms * 1000,
						Memcached::OPT_RECV_TIMEOUT    => $ms * 1000,
						Memcached::OPT_RETRY_TIMEOUT   => 1,
					)
				);
				$mc->addServer( $host, $port );
			}
			return self::$mc = $mc;
		}

		/** After a failed call: a connection error sets the server aside for this request, and is logged. */
		protected static function check( Memcached $mc ) {
			$code = $mc->getResultCode();
			if ( in_array( $code, array( Memcached::RES_SUCCESS, Memcached::RES_NOTFOUND, Memcached::RES_NOTSTORED, Memcached::RES_DATA_EXISTS ), true ) ) {
				return;
			}
			self::$mc = false;
			list( $host, $port ) = self::server();
			self::log( "$host:$port: " . $mc->getResultMessage() . '; pages are served by WordPress' );
		}

		/** One line per minute at most, across requests (a stamp file in LARDER_STATE_DIR). */
		protected static function log( $message ) {
			$dir   = defined( 'LARDER_STATE_DIR' ) ? LARDER_STATE_DIR : sys_get_temp_dir();
			$stamp = rtrim( $dir, '/' ) . '/larder-page-cache-' . md5( serialize( self::server() ) ) . '.log-stamp';
			$every = defined( 'LARDER_LOG_INTERVAL' ) ? max( 0, (int) LARDER_LOG_INTERVAL ) : 60;
			clearstatcache( true, $stamp );
			$last = @filemtime( $stamp );
			if ( false !== $last && time() - $last < $every ) {
				return;
			}
			@touch( $stamp );
			error_log( 'Larder page cache: ' . $message );
		}

		/** Forgets the per-request state (for tests that run several "requests" in one process). */
		public static function reset() {
			self::$mc               = null;
			self::$url              = null;
			self::$buffer           = '';
			self::$purge            = array();
			self::$purge_everything = false;
			self::$status           = 'off';
		}
	}
}

// Included by WordPress (wp-settings.php, with WP_CACHE): serve or arrange to store, and watch for changes.
if ( defined( 'ABSPATH' ) && ! defined( 'LARDER_PAGE_CACHE_LIBRARY_ONLY' ) && Larder_Page_Cache::enabled() ) {
	Larder_Page_Cache::add_hooks();
	Larder_Page_Cache::start();
}
