<?php
/**
 * Coherence: whatever WordPress does while the drop-in is absent, switched
 * off or cut off from its server must never be answered from the server
 * afterwards.  Runs with a real database (a private MariaDB, see
 * TestDatabase.php) holding the database epoch, and separate PHP processes
 * for the requests, with and without the drop-in.
 */
class CoherenceTest extends CacheTestCase {

	/** @var TestWpdb */
	private $db;

	/** @var string wp-content of the "site". */
	private $content;

	protected function setUp(): void {
		parent::setUp();
		$this->db      = TestDatabase::shared()->wpdb();
		$this->content = sys_get_temp_dir() . '/larder-content-' . getmypid();
		@mkdir( $this->content );
		exec( 'rm -rf ' . escapeshellarg( $this->content . '/mu-plugins' ) );
	}

	protected function tearDown(): void {
		exec( 'rm -rf ' . escapeshellarg( $this->content ) );
		parent::tearDown();
	}

	/** A request with the drop-in (or, with $dropin false, without), on the test database. */
	private function request( array $ops, $dropin = true, array $constants = array(), $servers = null ) {
		$extra = array(
			'db'        => array(
				'socket' => TestDatabase::shared()->socket,
				'prefix' => 'wp_',
			),
			'constants' => $constants + array( 'WP_CONTENT_DIR' => $this->content ),
			'salt'      => 'site:',
		);
		if ( ! $dropin ) {
			$extra['no_dropin'] = true;
			$guard              = $this->content . '/mu-plugins/' . WP_Object_Cache::GUARD_FILE;
			$extra['includes']  = is_file( $guard ) ? array( $guard ) : array();
		}
		return $this->child( $ops, $servers, $extra );
	}

	public function test_removing_and_restoring_the_drop_in_never_serves_old_values() {
		$this->request( array( array( 'set', 'blogname', 'Old title', 'options' ) ) );
		$this->assertSame( array( array( 'Old title', true ) ), $this->request( array( array( 'get_found', 'blogname', 'options' ) ) ) );
		$epoch = $this->db->option( WP_Object_Cache::EPOCH_OPTION );
		$this->assertStringStartsWith( 'e:', $epoch, 'the drop-in records a database epoch' );
		$this->assertFileExists( $this->content . '/mu-plugins/' . WP_Object_Cache::GUARD_FILE, 'and writes the guard plugin' );

		// The drop-in is deleted; WordPress runs (and would change blogname in the database).
		$this->request( array(), false );
		$this->assertStringStartsWith( 'gap:', $this->db->option( WP_Object_Cache::EPOCH_OPTION ), 'the guard marked the gap' );

		// The drop-in is copied back: the old title must not come back.
		$got = $this->request( array( array( 'get_found', 'blogname', 'options' ), array( 'stats' ) ) );
		$this->assertSame( array( false, false ), $got[0] );
		$this->assertSame( 1, $got[1]['new_epochs'] );
		$this->assertStringStartsWith( 'e:', $this->db->option( WP_Object_Cache::EPOCH_OPTION ) );
		$this->assertNotSame( $epoch, $this->db->option( WP_Object_Cache::EPOCH_OPTION ) );

		// And from then on the cache works as before.
		$this->request( array( array( 'set', 'blogname', 'New title', 'options' ) ) );
		$got = $this->request( array( array( 'get_found', 'blogname', 'options' ), array( 'stats' ) ) );
		$this->assertSame( array( 'New title', true ), $got[0] );
		$this->assertSame( 0, $got[1]['new_epochs'] );
	}

	public function test_the_guard_does_nothing_while_the_drop_in_is_active() {
		$this->request( array( array( 'set', 'k', 'v', 'g' ) ) );
		$epoch = $this->db->option( WP_Object_Cache::EPOCH_OPTION );
		$guard = $this->content . '/mu-plugins/' . WP_Object_Cache::GUARD_FILE;
		$extra = array(
			'db'        => array(
				'socket' => TestDatabase::shared()->socket,
				'prefix' => 'wp_',
			),
			'constants' => array( 'WP_CONTENT_DIR' => $this->content ),
			'salt'      => 'site:',
			'includes'  => array( $guard ),
		);
		$got   = $this->child( array( array( 'get_found', 'k', 'g' ) ), null, $extra );
		$this->assertSame( array( 'v', true ), $got[0] );
		$this->assertSame( $epoch, $this->db->option( WP_Object_Cache::EPOCH_OPTION ) );
	}

	public function test_a_map_from_before_the_database_epoch_is_not_trusted() {
		// Items written outside WordPress (no database epoch), then the site starts using the database.
		$this->child( array( array( 'set', 'k', 'v', 'g' ) ), null, array( 'salt' => 'site:' ) );
		$got = $this->request( array( array( 'get_found', 'k', 'g' ) ) );
		$this->assertSame( array( false, false ), $got[0] );
	}

	public function test_the_kill_switch_turns_the_cache_off_and_guards_the_way_back() {
		$this->request( array( array( 'set', 'blogname', 'Old title', 'options' ) ) );
		$before = $this->server->stats();

		$got = $this->request(
			array(
				array( 'get_found', 'blogname', 'options' ),
				array( 'set', 'k', 'only in this request', 'g' ),
				array( 'get_found', 'k', 'g' ),
				array( 'ext' ),
				array( 'stats' ),
			),
			true,
			array( 'LARDER_DISABLED' => true )
		);
		$this->assertSame( array( false, false ), $got[0], 'nothing is read from the server' );
		$this->assertSame( array( 'only in this request', true ), $got[2], 'the runtime cache still works' );
		$this->assertFalse( $got[3], 'WordPress is told there is no external cache (transients go to the database)' );
		$this->assertTrue( $got[4]['disabled'] );
		$after = $this->server->stats();
		$this->assertSame( (int) $before['total_connections'] + 1, (int) $after['total_connections'], 'no connection but the one asking for stats' );
		$this->assertSame( array( $before['cmd_get'], $before['cmd_set'] ), array( $after['cmd_get'], $after['cmd_set'] ), 'no command reached the server' );
		$this->assertStringStartsWith( 'gap:', $this->db->option( WP_Object_Cache::EPOCH_OPTION ) );
		$this->assertSame( array(), $this->logged(), 'switching off is not an error' );

		$got = $this->request( array( array( 'get_found', 'blogname', 'options' ) ) );
		$this->assertSame( array( false, false ), $got[0], 'back on: a new epoch' );
	}

	public function test_a_request_cut_off_from_the_server_marks_the_gap() {
		$this->request( array( array( 'set', 'blogname', 'Old title', 'options' ) ) );
		$this->request( array( array( 'set', 'blogname', 'Changed while down', 'options' ) ), true, array(), '127.0.0.1:' . CacheServer::free_port() );
		$this->assertStringStartsWith( 'gap:', $this->db->option( WP_Object_Cache::EPOCH_OPTION ) );
		$got = $this->request( array( array( 'get_found', 'blogname', 'options' ) ) );
		$this->assertSame( array( false, false ), $got[0], 'the value from before the outage is not served' );
	}
}
