<?php
/**
 * Persistence between separate PHP processes, configured as a site would
 * be: the LARDER_SERVERS constant, WP_CACHE_KEY_SALT.
 */
class ProcessTest extends CacheTestCase {

	public function test_values_written_by_one_process_are_read_by_another() {
		$object = (object) array( 'ID' => 7, 'post_title' => 'Hi' );
		$this->child(
			array(
				array( 'set', 'false', false, 'g' ),
				array( 'set', 'zero', 0, 'g' ),
				array( 'set', 'empty', '', 'g' ),
				array( 'set', 'null', null, 'g' ),
				array( 'set', 'array', array( 1, 'two' ), 'g' ),
				array( 'set_multiple', array( 'm1' => 1, 'm2' => 2 ), 'g' ),
				array( 'add', 'counter', 10, 'g' ),
				array( 'incr', 'counter', 5, 'g' ),
			)
		);
		// Objects cannot travel through JSON: this process writes one.
		wp_cache_set( 'object', $object, 'g' );

		$got = $this->child(
			array(
				array( 'get_found', 'false', 'g' ),
				array( 'get_found', 'zero', 'g' ),
				array( 'get_found', 'empty', 'g' ),
				array( 'get_found', 'null', 'g' ),
				array( 'get_found', 'array', 'g' ),
				array( 'get_found', 'missing', 'g' ),
				array( 'get_found', 'object', 'g' ),
				array( 'get_multiple', array( 'm1', 'm2', 'm3' ), 'g' ),
				array( 'get', 'counter', 'g' ),
				array( 'stats' ),
			)
		);
		$this->assertSame( array( false, true ), $got[0] );
		$this->assertSame( array( 0, true ), $got[1] );
		$this->assertSame( array( '', true ), $got[2] );
		$this->assertSame( array( null, true ), $got[3] );
		$this->assertSame( array( array( 1, 'two' ), true ), $got[4] );
		$this->assertSame( array( false, false ), $got[5] );
		$this->assertEquals( array( $object, true ), $got[6] );
		$this->assertSame( array( 'm1' => 1, 'm2' => 2, 'm3' => false ), $got[7] );
		$this->assertSame( 15, $got[8] );
		$this->assertSame( 9, $got[9]['server_hits'] );
		$this->assertSame( array(), $this->logged(), 'nothing logged' );
	}

	public function test_key_salts_separate_sites() {
		$this->child( array( array( 'set', 'k', 'site A', 'g' ) ), null, array( 'salt' => 'siteA:' ) );
		$this->child( array( array( 'set', 'k', 'site B', 'g' ) ), null, array( 'salt' => 'siteB:' ) );
		$this->child( array( array( 'flush' ) ), null, array( 'salt' => 'siteB:' ) );
		$got = $this->child( array( array( 'get_found', 'k', 'g' ) ), null, array( 'salt' => 'siteA:' ) );
		$this->assertSame( array( 'site A', true ), $got[0] );
		$got = $this->child( array( array( 'get_found', 'k', 'g' ) ), null, array( 'salt' => 'siteB:' ) );
		$this->assertSame( array( false, false ), $got[0] );
	}
}
