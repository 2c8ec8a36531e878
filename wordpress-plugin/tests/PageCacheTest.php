<?php
/**
 * The page cache through real HTTP: `php -S` runs tests/page-site.php,
 * which includes advanced-cache.php the way WordPress does and then makes
 * a page (saying how many times it was generated).  The rules, the stored
 * items (in the layout nginx reads), TTL, purges and a dead server.
 */
class PageCacheTest extends CacheTestCase {

	/** @var resource|null */
	private $site;
	private $site_port;
	private $site_dir;

	protected function setUp(): void {
		parent::setUp();
		$this->start_site();
	}

	protected function tearDown(): void {
		$this->stop_site();
		Larder_Page_Cache::reset();
		parent::tearDown();
	}

	private function start_site( array $constants = array() ) {
		$this->stop_site();
		$this->site_dir = sys_get_temp_dir() . '/larder-site-' . getmypid() . '-' . bin2hex( random_bytes( 3 ) );
		mkdir( $this->site_dir );
		$constants += array(
			'LARDER_PAGE_SERVER' => $this->server->address(),
			'LARDER_STATE_DIR'   => LARDER_STATE_DIR,
		);
		for ( $try = 0; $try < 5; $try++ ) {
			$this->site_port = CacheServer::free_port();
			$env             = array(
				'LARDER_TEST_DIR'       => $this->site_dir,
				'LARDER_TEST_CONSTANTS' => json_encode( $constants ),
				'PATH'                  => getenv( 'PATH' ),
			);
			$cmd             = array( PHP_BINARY, '-d', 'error_log=' . $this->log_file, '-S', '127.0.0.1:' . $this->site_port, __DIR__ . '/page-site.php' );
			$this->site      = proc_open( $cmd, array( 0 => array( 'file', '/dev/null', 'r' ), 1 => array( 'file', '/dev/null', 'w' ), 2 => array( 'file', $this->site_dir . '/server.log', 'w' ) ), $pipes, $this->site_dir, $env );
			$deadline        = microtime( true ) + 10;
			while ( microtime( true ) < $deadline && proc_get_status( $this->site )['running'] ) {
				$s = @stream_socket_client( 'tcp://127.0.0.1:' . $this->site_port, $errno, $errstr, 0.2 );
				if ( $s ) {
					fclose( $s );
					return;
				}
				usleep( 20000 );
			}
			$this->stop_site();
		}
		$this->fail( 'php -S did not start' );
	}

	private function stop_site() {
		if ( $this->site ) {
			proc_terminate( $this->site, 9 );
			proc_close( $this->site );
			$this->site = null;
			exec( 'rm -rf ' . escapeshellarg( $this->site_dir ) );
		}
	}

	/** One HTTP request: [ status, [ lower-case name => value ], body ]. */
	private function http( $uri, $method = 'GET', array $headers = array() ) {
		$context = stream_context_create(
			array(
				'http' => array(
					'method'          => $method,
					'header'          => implode( "\r\n", array_merge( array( 'Host: 127.0.0.1:' . $this->site_port, 'Connection: close' ), 'POST' === $method ? array( 'Content-Type: application/x-www-form-urlencoded' ) : array(), $headers ) ),
					'ignore_errors'   => true,
					'timeout'         => 30,
					'follow_location' => 0,
					'content'         => 'POST' === $method ? 'a=1' : null,
				),
			)
		);
		$body = file_get_contents( 'http://127.0.0.1:' . $this->site_port . $uri, false, $context );
		$this->assertIsString( $body, "$method $uri" );
		$status = (int) explode( ' ', $http_response_header[0] )[1];
		$out    = array();
		foreach ( array_slice( $http_response_header, 1 ) as $line ) {
			list( $name, $value )              = array_map( 'trim', explode( ':', $line, 2 ) );
			$out[ strtolower( $name ) ][] = $value;
		}
		return array( $status, array_map( fn( $v ) => implode( ', ', $v ), $out ), $body );
	}

	private function x_cache( $uri, $method = 'GET', array $headers = array() ) {
		return $this->http( $uri, $method, $headers )[1]['x-cache'] ?? '';
	}

	public function test_an_anonymous_page_is_stored_then_served_with_its_headers() {
		list( $status, $h, $first ) = $this->http( '/hello?x=1&header=' . rawurlencode( 'Link: <http://127.0.0.1/wp-json/>; rel="https://api.w.org/"' ) );
		$this->assertSame( array( 200, 'MISS' ), array( $status, $h['x-cache'] ) );
		$this->assertStringContainsString( 'generation 1', $first );

		list( $status, $h, $second ) = $this->http( '/hello?x=1&header=' . rawurlencode( 'Link: <http://127.0.0.1/wp-json/>; rel="https://api.w.org/"' ) );
		$this->assertSame( array( 200, 'HIT' ), array( $status, $h['x-cache'] ) );
		$this->assertSame( $first, $second, 'the very same page, not generated again' );
		$this->assertSame( 'text/html; charset=UTF-8', $h['content-type'] );
		$this->assertSame( 'page-site', $h['x-generator'] );
		$this->assertStringContainsString( 'rel="https://api.w.org/"', $h['link'] );
		$this->assertArrayHasKey( 'age', $h );

		list( $status, $h, $body ) = $this->http( '/hello?x=1&header=' . rawurlencode( 'Link: <http://127.0.0.1/wp-json/>; rel="https://api.w.org/"' ), 'HEAD' );
		$this->assertSame( array( 200, 'HIT', '' ), array( $status, $h['x-cache'], $body ), 'HEAD from the cache' );
	}

	public function test_the_body_is_stored_raw_under_the_key_nginx_builds() {
		$this->http( '/a%20b/?q=%41' );
		$key   = 'larder:page:http://127.0.0.1/a%2520b/?q=%2541'; // $scheme://$host$request_uri, '%' escaped as nginx does.
		$reply = $this->server->raw( "get $key\r\n" );
		$this->assertMatchesRegularExpression( '/^VALUE \S+ 0 \d+\r\n<!DOCTYPE html>/', $reply, 'flags 0, no compression, no serialization' );
		$this->assertStringContainsString( 'uri /a%20b/?q=%41 generation 1', $reply );
		$this->assertSame( 'HIT', $this->x_cache( '/a%20b/?q=%41' ) );
	}

	public function test_head_first_stores_nothing() {
		$this->assertSame( 'MISS', $this->x_cache( '/head-first', 'HEAD' ) );
		$this->assertSame( 'MISS', $this->x_cache( '/head-first' ) );
		$this->assertSame( 'HIT', $this->x_cache( '/head-first' ) );
	}

	public function test_logged_in_users_carts_and_commenters_never_get_cached_pages() {
		$this->http( '/shared' );
		$this->assertSame( 'HIT', $this->x_cache( '/shared' ) );
		foreach ( array( 'wordpress_logged_in_0123abcd=admin%7C1', 'woocommerce_items_in_cart=1', 'wp_woocommerce_session_abc=1', 'comment_author_0123=Reader', 'wp-postpass_0123=x' ) as $cookie ) {
			list( , $h, $body ) = $this->http( '/shared', 'GET', array( "Cookie: other=1; $cookie" ) );
			$this->assertSame( 'BYPASS', $h['x-cache'], $cookie );
			$this->assertStringNotContainsString( 'generation 1', $body, $cookie );
		}
		// Nor is what they were shown stored for others.
		$this->http( '/only-mine', 'GET', array( 'Cookie: wordpress_logged_in_0123abcd=admin' ) );
		$this->assertSame( 'MISS', $this->x_cache( '/only-mine' ) );
		// Other cookies do not matter.
		$this->assertSame( 'HIT', $this->x_cache( '/shared', 'GET', array( 'Cookie: wordpress_test_cookie=WP+Cookie+check; _ga=1' ) ) );
	}

	public function test_posts_admin_paths_and_skipped_query_strings_bypass() {
		$this->assertSame( 'BYPASS', $this->x_cache( '/form', 'POST' ) );
		$this->assertSame( 'MISS', $this->x_cache( '/form' ), 'the POST stored nothing' );
		foreach ( array( '/?s=larder', '/?p=1&preview=true', '/wp-login.php', '/wp-admin/', '/?rest_route=/wp/v2/posts', '/wp-json/wp/v2/posts' ) as $uri ) {
			$this->http( $uri );
			$this->assertSame( 'BYPASS', $this->x_cache( $uri ), $uri );
		}
		$this->http( '/?p=1' );
		$this->assertSame( 'HIT', $this->x_cache( '/?p=1' ), 'other query strings are pages of their own' );
	}

	public function test_configured_cookies_and_query_strings_bypass_too() {
		$this->start_site(
			array(
				'LARDER_PAGE_SKIP_QUERY'   => array( 'currency' ),
				'LARDER_PAGE_SKIP_COOKIES' => 'my_cart_',
			)
		);
		$this->http( '/?currency=eur' );
		$this->assertSame( 'BYPASS', $this->x_cache( '/?currency=eur' ) );
		$this->http( '/shop' );
		$this->assertSame( 'BYPASS', $this->x_cache( '/shop', 'GET', array( 'Cookie: my_cart_1=3' ) ) );
		$this->assertSame( 'HIT', $this->x_cache( '/shop' ) );
	}

	public function test_responses_that_must_not_be_shared_are_not_stored() {
		$cases = array(
			'/?status=404',
			'/?status=301&header=' . rawurlencode( 'Location: /elsewhere' ),
			'/?header=' . rawurlencode( 'Cache-Control: private, max-age=60' ),
			'/?header=' . rawurlencode( 'Cache-Control: no-store' ),
			'/?header=' . rawurlencode( 'Cache-Control: no-cache, must-revalidate, max-age=0' ),
			'/?cookie=1',
		);
		foreach ( $cases as $uri ) {
			$this->http( $uri );
			$this->assertSame( 'MISS', $this->x_cache( $uri ), $uri );
			$this->assertSame( "END\r\n", $this->server->raw( 'get ' . Larder_Page_Cache::key_of( 'http://127.0.0.1' . $uri, 'meta' ) . "\r\n" ), $uri );
		}
	}

	public function test_other_content_types_are_cached_for_php_but_never_for_nginx() {
		$uri = '/?feed=rss2&type=' . rawurlencode( 'application/rss+xml; charset=UTF-8' );
		$this->http( $uri );
		list( , $h, $body ) = $this->http( $uri );
		$this->assertSame( 'HIT', $h['x-cache'] );
		$this->assertSame( 'application/rss+xml; charset=UTF-8', $h['content-type'] );
		$this->assertStringContainsString( 'generation 1', $body );
		$this->assertSame( "END\r\n", $this->server->raw( 'get ' . Larder_Page_Cache::key_of( 'http://127.0.0.1' . $uri ) . "\r\n" ), 'no body item for nginx' );
	}

	public function test_pages_expire_after_the_ttl() {
		$this->start_site( array( 'LARDER_PAGE_TTL' => 1 ) );
		$this->http( '/short' );
		$this->assertSame( 'HIT', $this->x_cache( '/short' ) ); // Within the second, on any machine: the server's clock ticks whole seconds...
		$deadline = microtime( true ) + 30;
		do {
			usleep( 200000 );
			list( , $h, $body ) = $this->http( '/short' );
			$this->assertLessThan( $deadline, microtime( true ), 'the page never expired' );
		} while ( 'HIT' === $h['x-cache'] );
		$this->assertSame( 'MISS', $h['x-cache'] );
		$this->assertStringNotContainsString( 'generation 1', $body );
	}

	public function test_purges_by_url_and_purge_all() {
		foreach ( array( '/', '/?p=7', '/?cat=3', '/?feed=rss2' ) as $uri ) {
			$this->http( $uri );
			$this->assertSame( 'HIT', $this->x_cache( $uri ), $uri );
		}
		// URLs as WordPress writes them (home_url(), get_permalink()): port and all.
		$this->assertTrue( Larder_Page_Cache::purge_urls( array( 'http://127.0.0.1:' . $this->site_port . '/?p=7', 'http://127.0.0.1:8080/' ) ) );
		$this->assertSame( 'MISS', $this->x_cache( '/?p=7' ) );
		$this->assertSame( 'MISS', $this->x_cache( '/' ) );
		$this->assertSame( 'HIT', $this->x_cache( '/?cat=3' ), 'other pages stay' );

		$this->assertTrue( Larder_Page_Cache::purge_all() );
		foreach ( array( '/?cat=3', '/?feed=rss2' ) as $uri ) {
			$this->assertSame( 'MISS', $this->x_cache( $uri ), $uri );
		}
	}

	public function test_queued_purges_run_at_the_end_of_the_request() {
		$this->http( '/?p=9' );
		$this->http( '/?p=10' );
		Larder_Page_Cache::queue( array( 'http://127.0.0.1/?p=9' ) );
		$this->assertSame( 'HIT', $this->x_cache( '/?p=9' ), 'not yet' );
		Larder_Page_Cache::run_purges();
		$this->assertSame( 'MISS', $this->x_cache( '/?p=9' ) );
		$this->assertSame( 'HIT', $this->x_cache( '/?p=10' ) );
	}

	public function test_purge_mode_all_purges_every_page_on_any_change() {
		foreach ( array( '/?p=1', '/?p=2', '/?cat=3' ) as $uri ) {
			$this->http( $uri );
		}
		// Another process, as the request that edits a post, with LARDER_PAGE_PURGE 'all'.
		$code = 'define( "LARDER_PAGE_PURGE", "all" ); define( "LARDER_PAGE_SERVER", $argv[2] ); define( "LARDER_PAGE_CACHE_LIBRARY_ONLY", true );'
			. ' require $argv[1]; Larder_Page_Cache::queue( array( "http://127.0.0.1/?p=1" ) );'; // run_purges() runs at shutdown.
		exec( escapeshellarg( PHP_BINARY ) . ' -r ' . escapeshellarg( $code ) . ' ' . escapeshellarg( dirname( __DIR__ ) . '/advanced-cache.php' ) . ' ' . escapeshellarg( $this->server->address() ), $out, $rc );
		$this->assertSame( 0, $rc, implode( "\n", $out ) );
		foreach ( array( '/?p=1', '/?p=2', '/?cat=3' ) as $uri ) {
			$this->assertSame( 'MISS', $this->x_cache( $uri ), $uri );
		}
	}

	public function test_a_dead_server_leaves_the_site_working_and_logs_once_a_minute() {
		$this->start_site( array( 'LARDER_PAGE_SERVER' => '127.0.0.1:' . CacheServer::free_port() ) );
		for ( $i = 0; $i < 4; $i++ ) {
			list( $status, $h, $body ) = $this->http( '/down' );
			$this->assertSame( array( 200, 'MISS' ), array( $status, $h['x-cache'] ) );
			$this->assertStringContainsString( 'generation ' . ( $i + 1 ), $body );
		}
		$log = array_values( array_filter( $this->logged(), fn( $l ) => false !== strpos( $l, 'Larder page cache' ) ) );
		$this->assertCount( 1, $log, implode( "\n", $this->logged() ) );
	}

	public function test_the_rules_alone() {
		$get = array(
			'REQUEST_METHOD' => 'GET',
			'REQUEST_URI'    => '/x',
			'HTTP_HOST'      => 'Example.COM:8080',
		);
		$this->assertNull( Larder_Page_Cache::bypass_reason( $get, array(), array() ) );
		$this->assertSame( 'http://example.com/x', Larder_Page_Cache::request_url( $get ) );
		$this->assertSame( 'https://example.com/x', Larder_Page_Cache::request_url( $get + array( 'HTTP_X_FORWARDED_PROTO' => 'https' ) ) );
		$this->assertSame( 'method', Larder_Page_Cache::bypass_reason( array( 'REQUEST_METHOD' => 'PUT' ) + $get, array(), array() ) );
		$this->assertSame( 'authorization', Larder_Page_Cache::bypass_reason( $get + array( 'HTTP_AUTHORIZATION' => 'Basic x' ), array(), array() ) );
		$this->assertSame( 'key', Larder_Page_Cache::bypass_reason( array( 'REQUEST_URI' => '/' . str_repeat( 'a', 300 ) ) + $get, array(), array() ) );
		$this->assertSame( 'http://example.com/?p=1', Larder_Page_Cache::url_of( 'http://EXAMPLE.com:8080/?p=1' ) );
		$this->assertNull( Larder_Page_Cache::refuse_response( 200, array( 'Content-Type: text/html', 'Cache-Control: max-age=60' ), 'x' ) );
		$this->assertSame( 'empty', Larder_Page_Cache::refuse_response( 200, array(), '' ) );
	}
}
